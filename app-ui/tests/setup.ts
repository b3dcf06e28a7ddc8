// Every test runs in China Standard Time, so local-time formatting is fixed.
process.env.TZ = 'Asia/Shanghai'

import { afterEach } from 'vitest'
import { cleanup } from '@testing-library/vue'
import { setLang } from '../src/i18n'

afterEach(() => {
  cleanup()
  setLang('zh')
  localStorage.clear()
})
