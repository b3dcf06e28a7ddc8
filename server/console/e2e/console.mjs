// The console end to end in headless Chromium (Debian's `chromium`, driven by
// playwright-core), against a real gridwork-server. Started by the Rust test
// tests/console.rs, which sets the city up (accounts, a department, devices
// that reported a case and made a conflict) and checks afterwards what
// reached the devices. This script is the person at the desk: it logs in,
// clicks, types, downloads, and reports what it saw as one JSON line.
//
// Input (environment): GRIDWORK_E2E, a JSON object:
//   base, out (a directory for screenshots and the export),
//   staff / handler / admin: {name, password},
//   department: the department's Chinese name,
//   case: the description of the case a device reported,
//   hostile: the description of a case whose text is markup and a script,
//   conflict: {loser: the losing value to keep},
//   resident: the name of the resident whose phone is in conflict,
//   parked: {field: the label of the refused field, sent, correction},
//   revoke: the number of the device to revoke.
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

const config = JSON.parse(process.env.GRIDWORK_E2E ?? '{}')
const shots = process.env.GRIDWORK_SCREENSHOTS || join(config.out, 'screenshots')
mkdirSync(shots, { recursive: true })
const seen = { errors: [], steps: [] }

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run', '--lang=zh-CN'],
})
const context = await browser.newContext({
  viewport: { width: 1440, height: 900 },
  locale: 'zh-CN',
  timezoneId: 'Asia/Shanghai',
  acceptDownloads: true,
})
// The console must load nothing from elsewhere: the city's network may
// have no internet.
context.on('request', (request) => {
  const url = new URL(request.url())
  if (!['127.0.0.1', 'localhost'].includes(url.hostname) && url.protocol !== 'data:' && url.protocol !== 'blob:') {
    seen.errors.push(`loaded from elsewhere: ${request.url()}`)
  }
})
const page = await context.newPage()
page.setDefaultTimeout(20_000)
page.on('pageerror', (error) => seen.errors.push(`page error: ${error.message}`))
page.on('console', (message) => {
  if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) seen.errors.push(`console: ${message.text()}`)
})

async function shot(name) {
  // Notices fade in 3 s; charts and the map finish drawing.
  await page.locator('.el-message').last().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {})
  await page.waitForTimeout(400)
  await page.screenshot({ path: join(shots, `console-${name}.png`) })
}

async function login(who) {
  await page.goto(`${config.base}/login`)
  await page.getByTestId('login-name').fill(who.name)
  await page.getByTestId('login-password').fill(who.password)
  await page.getByTestId('login-submit').click()
  await page.getByTestId('who').waitFor()
}

async function logout() {
  await page.getByTestId('logout').click()
  await page.getByTestId('login-submit').waitFor()
}

async function openCase(description) {
  await page.goto(`${config.base}/cases`)
  await page.getByTestId('case-table').getByText(description, { exact: true }).click()
  await page.getByTestId('page-case').waitFor()
  await page.getByTestId('trail').waitFor()
}

async function step(name, { department, note } = {}) {
  await page.getByTestId(`step-${name}`).click()
  if (department) {
    await page.getByTestId('step-department').click()
    await page.getByRole('option', { name: department, exact: true }).click()
  }
  if (note) await page.getByTestId('step-note').fill(note)
  await page.getByTestId('step-confirm').click()
}

async function status() {
  return (await page.locator('[data-testid="page-case"] [data-testid="status"]').first().innerText()).trim()
}

async function waitForStatus(text) {
  await page.locator('[data-testid="page-case"] [data-testid="status"]', { hasText: text }).first().waitFor()
  seen.steps.push(text)
}

try {
  // A wrong password is said, and nothing opens.
  await page.goto(`${config.base}/login`)
  await page.getByTestId('login-name').fill(config.staff.name)
  await page.getByTestId('login-password').fill('not the password')
  await page.getByTestId('login-submit').click()
  seen.wrongPassword = (await page.getByTestId('login-error').innerText()).trim()

  // Centre staff: the dashboard, the case the device reported, accepted and
  // dispatched.
  await login(config.staff)
  await page.getByTestId('figure-total').waitFor()
  seen.total = Number((await page.getByTestId('figure-total').locator('.gw-figure-value').innerText()).trim())
  // Today's patrols and visits per worker, drawn.
  await page.getByTestId('dashboard-activity').locator('svg').first().waitFor()
  seen.dashboardActivity = true
  await shot('dashboard')

  await page.goto(`${config.base}/cases`)
  await page.getByTestId('case-table').getByText(config.case, { exact: true }).waitFor()
  // Free text from devices is text: the hostile description shows as
  // typed, and its script never runs.
  await page.getByTestId('case-table').getByText(config.hostile, { exact: true }).waitFor()
  seen.hostileRan = await page.evaluate(() => window.__gridworkXss === true)
  seen.hostileImages = await page.locator('[data-testid="case-table"] img').count()
  await shot('cases')

  // The list as filtered, exported to Excel.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-xlsx').click()])
  seen.xlsx = join(config.out, 'cases.xlsx')
  await download.saveAs(seen.xlsx)

  await openCase(config.case)
  seen.reported = await status()
  await step('accept')
  await waitForStatus('已受理')
  await step('dispatch', { department: config.department })
  await waitForStatus('已派遣')
  seen.dispatchedTo = (await page.getByTestId('case-department').innerText()).trim()
  await shot('case')

  await openCase(config.hostile)
  seen.hostileRanOnCase = await page.evaluate(() => window.__gridworkXss === true)
  seen.hostileShown = (await page.locator('[data-testid="page-case"] [data-testid="case-description"]').innerText()).trim()

  await page.goto(`${config.base}/map`)
  await page.getByTestId('map').locator('path').first().waitFor()
  // The cases' markers come after the grids' outlines.
  await page.waitForFunction(() => !/: 0 \//.test(document.querySelector('[data-testid="map-count"]')?.textContent ?? ': 0 /'))
  seen.mapShapes = await page.getByTestId('map').locator('path').count()
  // Today's patrol routes, one per worker of the demo.
  await page.waitForFunction(() => !/ 0 /.test(document.querySelector('[data-testid="map-routes-count"]')?.textContent ?? ' 0 '))
  seen.mapRoutes = (await page.getByTestId('map-routes-count').innerText()).trim()
  await shot('map')

  // Today's patrols and visits, and each worker's tally.
  await page.goto(`${config.base}/activity`)
  await page.getByTestId('activity-workers').locator('tbody tr').first().waitFor()
  seen.activityWorkers = await page.getByTestId('activity-workers').locator('tbody tr').count()
  seen.activityPatrols = await page.getByTestId('activity-patrols').locator('tbody tr').count()
  seen.activityVisits = await page.getByTestId('activity-visits').locator('tbody tr').count()
  // Each worker over the week up to today.
  await page.getByTestId('activity-period-workers').locator('tbody tr').first().waitFor()
  seen.periodWorkers = await page.getByTestId('activity-period-workers').locator('tbody tr').count()
  await page.getByTestId('activity-period').screenshot({ path: join(shots, 'console-activity-period.png') })
  await shot('activity')
  await logout()

  // The department's handler sees the case and handles it.
  await login(config.handler)
  await openCase(config.case)
  seen.handlerSteps = await page.locator('[data-testid^="step-"]').evaluateAll((buttons) =>
    buttons.map((b) => b.getAttribute('data-testid')).filter((id) => /^step-[a-z]+$/.test(id ?? '')),
  )
  await step('handle', { note: '已更换井盖,现场恢复通行' })
  await waitForStatus('已处置')
  await logout()

  // Back at the centre: closed with feedback.
  await login(config.staff)
  await openCase(config.case)
  await step('close', { note: '经核查已处置到位,予以办结' })
  await waitForStatus('已结案')

  // The conflict inbox: the losing value is kept.
  await page.goto(`${config.base}/conflicts`)
  const card = page.getByTestId('conflict').filter({ hasText: config.conflict.loser })
  await card.waitFor()
  await shot('conflicts')
  await card.locator('tr', { hasText: config.conflict.loser }).getByTestId('conflict-keep').click()
  await card.waitFor({ state: 'detached' })
  seen.conflictKept = config.conflict.loser

  // The registry: the resident found by name, and the
  // phone's history shows the centre's choice.
  await page.goto(`${config.base}/registry`)
  await page.getByTestId('registry-q').fill(config.resident)
  await page.getByTestId('registry-q').press('Enter')
  await page.getByTestId('registry-table').getByText(config.resident, { exact: true }).waitFor()
  // The list as searched, exported.
  const [registryFile] = await Promise.all([page.waitForEvent('download'), page.getByTestId('registry-export-xlsx').click()])
  seen.registryXlsx = join(config.out, 'registry.xlsx')
  await registryFile.saveAs(seen.registryXlsx)
  await page.getByTestId('registry-table').getByText(config.resident, { exact: true }).click()
  const phone = page.getByTestId('history-phone')
  await phone.waitFor()
  seen.registryPhone = (await phone.locator('tbody tr').first().innerText()).replace(/\s+/g, ' ').trim()
  await shot('registry')
  await page.keyboard.press('Escape')

  // A refused change: reviewed, the phone corrected, applied.
  await page.goto(`${config.base}/parked`)
  await page.getByTestId('parked-review').first().click()
  const line = page.getByTestId('parked-fields').locator('tr', { hasText: config.parked.field })
  const value = line.locator('textarea')
  seen.parkedSent = await value.inputValue()
  await value.fill(config.parked.correction)
  await shot('parked')
  await page.getByTestId('parked-apply').click()
  await page.locator('.el-message-box').getByRole('button', { name: '应用' }).click()
  await page.getByTestId('parked-review').first().waitFor({ state: 'detached' })
  await logout()

  // The administrator revokes a device.
  await login(config.admin)
  await page.goto(`${config.base}/devices`)
  await page.getByTestId(`revoke-${config.revoke}`).click()
  await page.locator('.el-message-box').getByRole('button', { name: '停用' }).click()
  await page.getByTestId(`revoke-${config.revoke}`).waitFor({ state: 'detached' })
  seen.revoked = config.revoke
  await shot('devices')

  // English is one click away.
  await page.getByTestId('lang').click()
  await page.getByTestId('nav-cases').getByText('Cases').waitFor()
  seen.english = true
  await page.getByTestId('lang').click()
} catch (error) {
  seen.failed = String(error?.stack ?? error)
  try {
    await page.screenshot({ path: join(shots, 'console-failure.png') })
  } catch {
    // The browser may be gone.
  }
} finally {
  await browser.close()
}
console.log(JSON.stringify(seen))
