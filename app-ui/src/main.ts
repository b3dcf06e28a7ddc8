import { createApp, watch } from 'vue'
import { isTauri } from '@tauri-apps/api/core'
import { Locale } from 'vant'
import enUS from 'vant/es/locale/lang/en-US'
import zhCN from 'vant/es/locale/lang/zh-CN'
import App from './App.vue'
import { i18n, setLang, lang } from './i18n'
import { makeRouter } from './router'
import { useVant } from './vant'
import './styles.css'

async function start() {
  // `npm run dev` in a plain browser: a fake device in memory (dev/mock.ts),
  // so the screens can be looked at without the Rust side. Not in a build,
  // unless one is made for a browser demo with VITE_MOCK=1.
  if ((import.meta.env.DEV || import.meta.env.VITE_MOCK === '1') && !isTauri()) {
    const { installMock } = await import('../dev/mock')
    installMock()
  }
  setLang(lang())
  watch(
    i18n.global.locale,
    (next) => (next === 'en' ? Locale.use('en-US', enUS) : Locale.use('zh-CN', zhCN)),
    { immediate: true },
  )
  const app = createApp(App)
  app.use(i18n)
  app.use(makeRouter())
  useVant(app)
  app.mount('#app')
}

void start()
