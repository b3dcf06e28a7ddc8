import { beforeEach, describe, expect, it, vi } from 'vitest'

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }))
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }))

import { invoke } from '@tauri-apps/api/core'
import { listen } from '@tauri-apps/api/event'
import { api, CommandError, errorText, normalizeToday, onSyncState, photoUrl, setPhaseErrorHandler, toCommandError } from '../src/api'

const invokeMock = vi.mocked(invoke)

beforeEach(() => {
  invokeMock.mockReset()
  setPhaseErrorHandler(null)
})

const refusal = {
  code: 'invalid',
  message: 'id_number: the check digit is wrong',
  message_zh: '身份证号：校验码不对',
  field: 'id_number',
}

describe('the error message helper', () => {
  it('picks the message in the language the worker reads', () => {
    expect(errorText(refusal, 'zh')).toBe('身份证号：校验码不对')
    expect(errorText(refusal, 'en')).toBe('id_number: the check digit is wrong')
  })

  it('falls back to the other language when one is missing', () => {
    expect(errorText({ code: 'x', message: 'only English', message_zh: '' }, 'zh')).toBe('only English')
    expect(errorText({ code: 'x', message: '', message_zh: '只有中文' }, 'en')).toBe('只有中文')
  })

  it('copes with plain strings and Errors thrown by the bridge itself', () => {
    expect(errorText('command not found', 'zh')).toBe('command not found')
    expect(errorText(new Error('IPC failed'), 'en')).toBe('IPC failed')
    expect(errorText(null, 'zh', '出错了')).toBe('出错了')
    expect(toCommandError('boom').code).toBe('unknown')
  })

  it('keeps the field, attempts left and retry time', () => {
    const e = toCommandError({ code: 'wrong_pin', message: 'wrong PIN', message_zh: '密码错误', attempts_left: 3 })
    expect(e).toBeInstanceOf(CommandError)
    expect(e.attempts_left).toBe(3)
    expect(toCommandError(refusal).field).toBe('id_number')
    expect(toCommandError({ code: 'pin_locked_out', message: 'x', message_zh: 'y', retry_at_ms: 99 }).retry_at_ms).toBe(99)
  })

  it('rethrows what invoke threw as a CommandError, in both languages', async () => {
    invokeMock.mockRejectedValue(refusal)
    const thrown = await api.putRecord('resident', { id_number: '1' }).catch((e) => e)
    expect(thrown).toBeInstanceOf(CommandError)
    expect(errorText(thrown, 'zh')).toBe('身份证号：校验码不对')
    expect(thrown.field).toBe('id_number')
  })

  it('tells the app when an error means it was locked', async () => {
    const handler = vi.fn()
    setPhaseErrorHandler(handler)
    invokeMock.mockRejectedValue({ code: 'locked', message: 'locked', message_zh: '已锁定' })
    await expect(api.today()).rejects.toMatchObject({ code: 'locked' })
    expect(handler).toHaveBeenCalledOnce()
    invokeMock.mockRejectedValue(refusal)
    await expect(api.today()).rejects.toMatchObject({ code: 'invalid' })
    expect(handler).toHaveBeenCalledOnce()
  })
})

describe('commands', () => {
  it('sends photos as raw bytes with the file name in a header', async () => {
    invokeMock.mockResolvedValue({ sha256: 'ab', width: 10, height: 10, bytes: 3 })
    const bytes = new Uint8Array([1, 2, 3])
    await api.addPhoto(bytes, 'IMG_0001.jpg')
    expect(invokeMock).toHaveBeenCalledWith('add_photo', bytes, { headers: { 'x-file-name': 'IMG_0001.jpg' } })
    await api.addPhoto(bytes, '现场.jpg')
    expect(invokeMock).toHaveBeenLastCalledWith('add_photo', bytes, { headers: { 'x-file-name': encodeURIComponent('现场.jpg') } })
  })

  it('turns the bytes of a photo into an object URL', async () => {
    invokeMock.mockResolvedValue(new Uint8Array([0xff, 0xd8, 0xff]).buffer)
    const created = vi.spyOn(URL, 'createObjectURL').mockReturnValue('blob:photo')
    await expect(photoUrl('ab')).resolves.toBe('blob:photo')
    expect(invokeMock).toHaveBeenCalledWith('photo', { sha256: 'ab' }, undefined)
    const blob = created.mock.calls[0][0] as Blob
    expect(blob.size).toBe(3)
    expect(blob.type).toBe('image/jpeg')
  })

  it('leaves optional arguments out rather than sending them empty', async () => {
    invokeMock.mockResolvedValue([])
    await api.listRecords({ kind: 'household', building: 'b1', after: undefined, limit: 50 })
    expect(invokeMock).toHaveBeenCalledWith('list_records', { kind: 'household', building: 'b1', limit: 50 }, undefined)
    await api.putRecord('resident', { name: '张三' })
    expect(invokeMock).toHaveBeenLastCalledWith('put_record', { kind: 'resident', fields: { name: '张三' } }, undefined)
    await api.putRecord('resident', { name: '张三' }, 'r1')
    expect(invokeMock).toHaveBeenLastCalledWith('put_record', { kind: 'resident', id: 'r1', fields: { name: '张三' } }, undefined)
  })

  it('reads a case of today() flat or nested', () => {
    const flat = normalizeToday({ cases: [{ id: 'c1', kind: 'case', status: 'reported', due_in_ms: -5 }] })
    const nested = normalizeToday({
      cases: [{ record: { id: 'c1', kind: 'case', status: 'reported' }, due_in_ms: -5 } as never],
    })
    expect(flat.cases).toEqual(nested.cases)
    expect(nested.cases[0]).toMatchObject({ id: 'c1', status: 'reported', due_in_ms: -5 })
    expect(normalizeToday(null)).toEqual({ tasks: [], cases: [], follow_ups: [], patrol: null, counts: {} })
  })

  it('hands sync-state events their payload', async () => {
    let registered: ((e: { payload: unknown }) => void) | undefined
    vi.mocked(listen).mockImplementation(async (_event, handler) => {
      registered = handler as never
      return () => {}
    })
    const seen = vi.fn()
    await onSyncState(seen)
    expect(vi.mocked(listen)).toHaveBeenCalledWith('sync-state', expect.any(Function))
    registered!({ payload: { running: true } })
    expect(seen).toHaveBeenCalledWith({ running: true })
  })
})
