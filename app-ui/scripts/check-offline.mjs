// After a build: fails if anything in dist/ would be loaded from the network
// (a web font, a CDN script, a stylesheet). The app runs offline in the field.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('../dist/', import.meta.url).pathname
const remote = [
  { ext: '.css', re: /url\(\s*['"]?(?:https?:)?\/\//gi, what: 'a remote url() in CSS' },
  { ext: '.css', re: /@import\s+(?:url\()?['"]?(?:https?:)?\/\//gi, what: 'a remote @import' },
  // The Tauri side's content security policy takes fonts from the app only.
  { ext: '.css', re: /url\(\s*['"]?data:font/gi, what: 'a data: font (the CSP allows font files only)' },
  { ext: '.html', re: /(?:src|href)\s*=\s*['"](?:https?:)?\/\//gi, what: 'a remote src/href' },
  { ext: '.js', re: /import\(\s*['"]https?:\/\//gi, what: 'a remote import()' },
]

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* files(path)
    else yield path
  }
}

let bad = 0
let total = 0
for (const path of files(root)) {
  total += statSync(path).size
  const text = readFileSync(path, 'utf8')
  for (const { ext, re, what } of remote) {
    if (!path.endsWith(ext)) continue
    for (const m of text.matchAll(re)) {
      bad++
      console.error(`${path.slice(root.length)}: ${what}: …${text.slice(m.index, m.index + 80)}…`)
    }
  }
}
if (bad) {
  console.error(`dist/ would load ${bad} thing(s) from the network`)
  process.exit(1)
}
console.log(`dist/: nothing loaded from the network (${(total / 1024).toFixed(0)} KiB in all)`)
