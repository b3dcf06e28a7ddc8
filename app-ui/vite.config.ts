/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

// Vant's icon font comes embedded in its CSS as a data: URL, followed by a
// fallback on a CDN. The app loads nothing from the network (workers are
// often offline), and the Tauri side's content security policy allows fonts
// from the app itself only: the CDN fallback is cut, and the font is written
// out as a file that the build then emits as an ordinary asset.
function vantIconFontAsFile(): Plugin {
  const fontDir = fileURLToPath(new URL('./node_modules/.cache/gridwork/', import.meta.url))
  return {
    name: 'gridwork-vant-icon-font',
    enforce: 'pre',
    transform(code, id) {
      if (!id.endsWith('.css') || !id.includes('vant')) return null
      let out = code.replace(/,\s*url\((?:https?:)?\/\/[^)]*\)\s*format\([^)]*\)/g, '')
      out = out.replace(/url\(data:font\/woff2;charset=utf-8;base64,([A-Za-z0-9+/=]+)\)/g, (_all, base64: string) => {
        const bytes = Buffer.from(base64, 'base64')
        const name = `vant-icon-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}.woff2`
        mkdirSync(fontDir, { recursive: true })
        writeFileSync(join(fontDir, name), bytes)
        const rel = relative(dirname(id.split('?')[0]), join(fontDir, name)).split(sep).join('/')
        return `url("${rel.startsWith('.') ? rel : './' + rel}")`
      })
      return out === code ? null : { code: out, map: null }
    },
  }
}

export default defineConfig({
  // Relative asset paths: the Tauri WebView serves dist/ from its own protocol.
  base: './',
  plugins: [vue(), vantIconFontAsFile()],
  define: {
    __VUE_OPTIONS_API__: 'true',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    __VUE_I18N_FULL_INSTALL__: 'false',
    __VUE_I18N_LEGACY_API__: 'false',
    __INTLIFY_PROD_DEVTOOLS__: 'false',
  },
  // The port crates/app/tauri.conf.json's devUrl points at.
  server: { port: 5173, strictPort: true },
  clearScreen: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: ['es2021', 'chrome100', 'safari15'],
    chunkSizeWarningLimit: 600,
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
    setupFiles: ['tests/setup.ts'],
    // Local-time formatting is tested in China Standard Time.
    env: { TZ: 'Asia/Shanghai' },
    // Vant's ES modules import their CSS: let Vite handle them.
    server: { deps: { inline: ['vant'] } },
  },
})
