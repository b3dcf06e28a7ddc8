import { beforeEach, describe, expect, it, vi } from 'vitest'

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }))
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }))

import { invoke } from '@tauri-apps/api/core'
import { listen } from '@tauri-apps/api/event'
import { fireEvent, render, screen, waitFor } from '@testing-library/vue'
import App from '../src/App.vue'
import type { Phase, Status } from '../src/api'
import { schema } from '../src/schema'
import { resetState } from '../src/state'
import { SCHEMA } from '../dev/schema'
import { backend, clearSubscribers, fakeListen, fire, GRIDS, plugins, READY, settle, type Handler } from './helpers'

const invokeMock = vi.mocked(invoke)

function statusIn(phase: Phase, extra: Partial<Status> = {}): Status {
  return { ...READY, phase, ...extra }
}

const TODAY = { tasks: [], cases: [], follow_ups: [], patrol: null, counts: {} }
const SYNC = {
  running: false,
  online: true,
  last_success_ms: null,
  last_attempt_ms: null,
  pending_records: 3,
  pending_photos: 0,
  last_error: null,
  progress: null,
  refused: [],
  conflicts: 0,
}

function readyBackend(extra: Record<string, Handler> = {}) {
  return {
    schema: () => SCHEMA,
    grids: () => GRIDS,
    today: () => TODAY,
    sync_state: () => SYNC,
    ...extra,
  }
}

async function mountApp(handlers: Record<string, Handler>, path = '/today') {
  backend(invokeMock, handlers)
  const { router, plugins: p } = plugins()
  await router.push(path)
  const view = render(App, { global: { plugins: p } })
  await settle()
  return { router, view }
}

beforeEach(() => {
  resetState()
  schema.value = null
  invokeMock.mockReset()
  clearSubscribers()
  vi.mocked(listen).mockImplementation(fakeListen as never)
})

describe('routing on the phase', () => {
  it('key_error: a plain explanation and nothing else', async () => {
    await mountApp({ app_status: () => statusIn('key_error', { error: 'the key in the Secret Service is gone' }) })
    expect(screen.getByTestId('screen-key-error').textContent).toContain('无法打开本机数据')
    expect(screen.getByText(/the key in the Secret Service is gone/)).toBeTruthy()
    expect(screen.queryByTestId('tab-today')).toBeNull()
    expect(screen.queryByRole('textbox')).toBeNull()
  })

  it('enroll: server address and code, in either language', async () => {
    await mountApp({ app_status: () => statusIn('enroll') })
    expect(screen.getByTestId('enroll-server')).toBeTruthy()
    expect(screen.getByTestId('enroll-code')).toBeTruthy()
    expect(screen.getByTestId('enroll-submit').textContent).toContain('登记')
    await fireEvent.click(screen.getByTestId('lang-en'))
    expect(screen.getByTestId('enroll-submit').textContent).toContain('Enroll')
    expect(localStorage.getItem('gridwork.lang')).toBe('en')
  })

  it('set_pin: the PIN twice', async () => {
    await mountApp({ app_status: () => statusIn('set_pin') })
    expect(screen.getByTestId('pin-input').getAttribute('type')).toBe('password')
    expect(screen.getByTestId('pin-input').getAttribute('inputmode')).toBe('numeric')
    expect(screen.getByTestId('pin-confirm')).toBeTruthy()
  })

  it('locked: the PIN once', async () => {
    await mountApp({ app_status: () => statusIn('locked') })
    expect(screen.getByTestId('screen-unlock')).toBeTruthy()
    expect(screen.getByTestId('pin-input').getAttribute('type')).toBe('password')
    expect(screen.queryByTestId('pin-confirm')).toBeNull()
  })

  it('ready: the app with its five tabs', async () => {
    await mountApp({ app_status: () => READY, ...readyBackend() })
    await waitFor(() => screen.getByTestId('today-patrol'))
    for (const tab of ['today', 'patrol', 'registry', 'cases', 'sync']) expect(screen.getByTestId(`tab-${tab}`)).toBeTruthy()
    expect(screen.getByTestId('sync-summary').textContent).toContain('待上传记录 3 条')
  })
})

describe('moving between phases', () => {
  it('enrolls with a pasted QR payload, then asks for a PIN, then opens the app', async () => {
    const enroll = vi.fn(() => statusIn('set_pin'))
    const setPin = vi.fn(() => READY)
    await mountApp({ app_status: () => statusIn('enroll'), enroll, set_pin: setPin, ...readyBackend() })
    await fireEvent.update(screen.getByTestId('enroll-code'), 'gridwork://enroll?server=http%3A%2F%2F10.0.0.2%3A8080&code=K7Q2-93XD')
    expect((screen.getByTestId('enroll-server') as HTMLInputElement).value).toBe('http://10.0.0.2:8080')
    expect((screen.getByTestId('enroll-code') as HTMLInputElement).value).toBe('K7Q2-93XD')
    await fireEvent.click(screen.getByTestId('enroll-submit'))
    await settle()
    expect(enroll).toHaveBeenCalledWith({ server: 'http://10.0.0.2:8080', code: 'K7Q2-93XD' }, undefined)

    await fireEvent.update(screen.getByTestId('pin-input'), '123456')
    await fireEvent.update(screen.getByTestId('pin-confirm'), '123457')
    await fireEvent.click(screen.getByTestId('pin-submit'))
    await settle()
    expect(setPin).not.toHaveBeenCalled()
    expect(screen.getByTestId('pin-error').textContent).toBe('两次输入的密码不一样，请重新输入')
    await fireEvent.update(screen.getByTestId('pin-confirm'), '123456')
    await fireEvent.click(screen.getByTestId('pin-submit'))
    await settle()
    expect(setPin).toHaveBeenCalledWith({ pin: '123456' }, undefined)
    await waitFor(() => screen.getByTestId('tab-today'))
  })

  it('says plainly why enrolling failed', async () => {
    let answer: unknown = { code: 'network', message: 'cannot reach the server: connection refused', message_zh: '无法连接服务器(connection refused)' }
    await mountApp({
      app_status: () => statusIn('enroll'),
      enroll: () => {
        throw answer
      },
    })
    await fireEvent.click(screen.getByTestId('enroll-submit'))
    expect(screen.getByTestId('field-error-server').textContent).toBe('请填写服务器地址')
    await fireEvent.update(screen.getByTestId('enroll-server'), 'http://10.0.0.2:8080')
    await fireEvent.update(screen.getByTestId('enroll-code'), 'WRONG')
    await fireEvent.click(screen.getByTestId('enroll-submit'))
    await settle()
    expect(screen.getByTestId('enroll-error').textContent).toContain('连不上服务器')
    answer = { code: 'bad_enrollment_code', message: 'unknown or used code', message_zh: '注册码无效或已使用' }
    await fireEvent.click(screen.getByTestId('enroll-submit'))
    await settle()
    expect(screen.getByTestId('field-error-code').textContent).toBe('注册码无效或已使用')
  })

  it('says how many tries are left, then counts down a lockout', async () => {
    let answer: unknown = { code: 'wrong_pin', message: 'wrong PIN', message_zh: '密码错误', attempts_left: 2 }
    await mountApp({
      app_status: () => statusIn('locked'),
      unlock: () => {
        throw answer
      },
    })
    await fireEvent.update(screen.getByTestId('pin-input'), '000000')
    await fireEvent.click(screen.getByTestId('pin-submit'))
    await settle()
    expect(screen.getByTestId('pin-error').textContent).toBe('密码不对，还可以再试 2 次')
    expect((screen.getByTestId('pin-input') as HTMLInputElement).value).toBe('')

    answer = { code: 'pin_locked_out', message: 'locked out', message_zh: '已锁定', retry_at_ms: Date.now() + 30_000 }
    await fireEvent.update(screen.getByTestId('pin-input'), '111111')
    await fireEvent.click(screen.getByTestId('pin-submit'))
    await settle()
    expect(screen.getByTestId('pin-lockout').textContent).toMatch(/请在 0:(30|29) 后再试/)
    expect((screen.getByTestId('pin-input') as HTMLInputElement).disabled).toBe(true)
  })

  it('shows a lockout that survived a restart', async () => {
    await mountApp({ app_status: () => statusIn('locked', { retry_at_ms: Date.now() + 90_000 }) })
    expect(screen.getByTestId('pin-lockout').textContent).toMatch(/1:(30|29)/)
  })

  it('goes to the PIN screen when a command finds the app locked', async () => {
    let phase: Phase = 'ready'
    await mountApp({
      app_status: () => statusIn(phase),
      ...readyBackend({
        today: () => {
          phase = 'locked'
          throw { code: 'locked', message: 'locked', message_zh: '已锁定' }
        },
      }),
    })
    await waitFor(() => screen.getByTestId('screen-unlock'))
  })

  it('says the device was revoked, then goes back to enrolling', async () => {
    let phase: Phase = 'ready'
    await mountApp({ app_status: () => statusIn(phase), ...readyBackend() })
    await waitFor(() => screen.getByTestId('tab-today'))
    phase = 'enroll'
    fire('revoked', null)
    await settle()
    const dialog = await waitFor(() => screen.getByTestId('revoked-dialog'))
    expect(dialog.textContent).toContain('此设备已被注销，本机数据已清除')
    await fireEvent.click(screen.getByTestId('revoked-ok'))
    await settle()
    expect(screen.getByTestId('screen-enroll')).toBeTruthy()
  })

  it('keeps the sync line current from sync-state events', async () => {
    await mountApp({ app_status: () => READY, ...readyBackend() })
    await waitFor(() => screen.getByTestId('sync-summary'))
    fire('sync-state', { ...SYNC, pending_records: 0, last_error: { code: 'network', message: 'x', message_zh: 'y' } })
    await settle()
    expect(screen.getByTestId('sync-summary').textContent).toContain('暂时连不上服务器')
  })
})
