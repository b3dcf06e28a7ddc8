import { describe, expect, it } from 'vitest'
import type { SyncState } from '../src/api'
import { setLang } from '../src/i18n'
import { describeSync, pendingText, progressText, refusedAdvice, syncErrorText } from '../src/syncWords'

const now = new Date(2026, 10, 27, 18, 0)

function state(over: Partial<SyncState> = {}): SyncState {
  return {
    running: false,
    online: true,
    last_success_ms: new Date(2026, 10, 27, 14, 3).getTime(),
    last_attempt_ms: null,
    pending_records: 0,
    pending_photos: 0,
    last_error: null,
    progress: null,
    refused: [],
    conflicts: 0,
    ...over,
  }
}

const network = { code: 'network', message: 'cannot reach the server: connection refused (http://10.0.0.2:8080)', message_zh: '无法连接服务器(connection refused)' }

describe('sync in plain words', () => {
  it('says all is well when nothing waits', () => {
    const w = describeSync(state(), now)
    expect(w.tone).toBe('ok')
    expect(w.headline).toBe('全部已同步')
    expect(w.last).toBe('上次成功同步：今天 14:03')
  })

  it('says what waits: records and photos', () => {
    const w = describeSync(state({ pending_records: 3, pending_photos: 1 }), now)
    expect(w.tone).toBe('pending')
    expect(w.headline).toBe('待上传记录 3 条，待上传照片 1 张')
    expect(pendingText(state({ pending_records: 0, pending_photos: 0 }))).toBe('待上传记录 0 条')
  })

  it('turns a network error into something a worker understands, without the technical detail', () => {
    const w = describeSync(state({ pending_records: 2, last_error: network }), now)
    expect(w.tone).toBe('warn')
    expect(w.headline).toBe('暂时连不上服务器，记录已保存在本机，恢复网络后会自动同步')
    expect(w.headline).not.toContain('connection refused')
    expect(w.pending).toBe('待上传记录 2 条')
    setLang('en')
    expect(describeSync(state({ last_error: network }), now).headline).toBe(
      'Cannot reach the server right now. Records are saved on the tablet and will sync when the network is back.',
    )
  })

  it('rephrases the errors it knows and says the others as the Rust side does, in the right language', () => {
    expect(syncErrorText({ code: 'clock_ahead', message: 'x', message_zh: 'y' })).toContain('平板的时间不准')
    const other = { code: 'weird', message: 'something odd', message_zh: '奇怪的事' }
    expect(describeSync(state({ last_error: other }), now)).toMatchObject({ tone: 'error', headline: '奇怪的事' })
    setLang('en')
    expect(describeSync(state({ last_error: other }), now).headline).toBe('something odd')
  })

  it('shows progress while running, whatever went wrong before', () => {
    const w = describeSync(state({ running: true, last_error: network, progress: { phase: 'pushing', pushed: 10, pending: 40 } }), now)
    expect(w.tone).toBe('busy')
    expect(w.headline).toBe('正在上传记录：已上传 10，还剩 40')
    expect(progressText(state({ running: true, progress: { phase: 'pulling', pulled: 7 } }))).toBe('正在下载更新：已收到 7')
    expect(progressText(state({ running: true }))).toBe('正在同步…')
    expect(progressText(state({ running: true, progress: { phase: 'uploading', sent: 512, size: 2048 } }))).toBe('正在上传照片：25%')
  })

  it('says when the tablet is offline', () => {
    expect(describeSync(state({ online: false }), now)).toMatchObject({ tone: 'warn', headline: '当前离线。记录已保存在本机，恢复网络后会自动同步。' })
  })

  it('says when it never synced', () => {
    expect(describeSync(state({ last_success_ms: null }), now).last).toBe('还没有成功同步过')
  })

  it('tells what to do about a refused edit', () => {
    const r = { at_ms: 0, id: 'r1', kind: 'resident', field: 'grid', message: '', message_zh: '' }
    expect(refusedAdvice({ ...r, code: 'out_of_scope' })).toContain('您不用再做什么')
    expect(refusedAdvice({ ...r, code: 'invalid' })).toContain('改正后重新保存')
    expect(refusedAdvice({ ...r, code: 'something_new' })).toBe('请联系网格中心处理。')
  })
})
