import { describe, expect, it } from 'vitest'
import {
  age,
  countdown,
  dateCountdown,
  formatClock,
  formatDateTime,
  formatDuration,
  formatWhen,
  fromDatetimeLocal,
  maskIdNumber,
  msUntil,
  toDatetimeLocal,
  toRfc3339,
} from '../src/format'
import { setLang } from '../src/i18n'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR

describe('countdowns', () => {
  it('says how long a case is overdue, in days and hours', () => {
    const c = countdown(-(2 * DAY + 3 * HOUR + 20 * MIN))
    expect(c).toEqual({ text: '超期 2天3小时', overdue: true, soon: false })
  })

  it('says how much time is left, and flags under a day as soon', () => {
    expect(countdown(5 * HOUR + 10 * MIN)).toEqual({ text: '剩余 5小时', overdue: false, soon: true })
    expect(countdown(3 * DAY)).toEqual({ text: '剩余 3天', overdue: false, soon: false })
    expect(countdown(2 * HOUR + 15 * MIN).text).toBe('剩余 2小时15分钟')
    expect(countdown(12 * MIN).text).toBe('剩余 12分钟')
    expect(countdown(20_000).text).toBe('剩余 不到1分钟')
  })

  it('counts a deadline just passed as overdue', () => {
    const c = countdown(-1)
    expect(c.overdue).toBe(true)
    expect(c.text).toBe('超期 不到1分钟')
  })

  it('speaks English when asked', () => {
    setLang('en')
    expect(countdown(-(2 * DAY + 3 * HOUR)).text).toBe('Overdue 2 d 3 h')
    expect(countdown(5 * HOUR).text).toBe('5 h left')
    expect(formatDuration(DAY)).toBe('1 d')
  })

  it('counts due dates in local calendar days', () => {
    const now = new Date(2026, 10, 27, 23, 30) // 27 Nov, late evening
    expect(dateCountdown('2026-11-27', now)).toEqual({ text: '今天到期', overdue: false, soon: true })
    expect(dateCountdown('2026-11-28', now)?.text).toBe('剩余 1天')
    expect(dateCountdown('2026-11-30', now)).toEqual({ text: '剩余 3天', overdue: false, soon: false })
    expect(dateCountdown('2026-11-25', now)).toEqual({ text: '超期 2天', overdue: true, soon: false })
    expect(dateCountdown('not a date', now)).toBeNull()
  })

  it('measures the time to an RFC 3339 moment', () => {
    const now = Date.parse('2026-11-27T12:00:00+08:00')
    expect(msUntil('2026-11-27T14:00:00+08:00', now)).toBe(2 * HOUR)
    expect(msUntil('2026-11-27T05:00:00Z', now)).toBe(HOUR)
    expect(msUntil(null, now)).toBeNull()
  })

  it('shows a lockout on a clock face', () => {
    expect(formatClock(25_000)).toBe('0:25')
    expect(formatClock(12 * MIN + 5_000)).toBe('12:05')
    expect(formatClock(HOUR)).toBe('1:00:00')
    expect(formatClock(-5)).toBe('0:00')
  })
})

describe('dates and times', () => {
  it('writes RFC 3339 with the local offset', () => {
    expect(new Date().getTimezoneOffset()).toBe(-480) // the tests run in Asia/Shanghai
    expect(toRfc3339(new Date(Date.UTC(2026, 10, 27, 6, 3, 5)))).toBe('2026-11-27T14:03:05+08:00')
  })

  it('round-trips through a datetime-local input', () => {
    expect(toDatetimeLocal('2026-11-27T06:03:00Z')).toBe('2026-11-27T14:03')
    expect(fromDatetimeLocal('2026-11-27T14:03')).toBe('2026-11-27T14:03:00+08:00')
    expect(fromDatetimeLocal('')).toBe('')
    expect(toDatetimeLocal(fromDatetimeLocal('2026-01-02T03:04'))).toBe('2026-01-02T03:04')
  })

  it('shows times in local time, briefly when recent', () => {
    const now = new Date(2026, 10, 27, 18, 0)
    expect(formatDateTime('2026-11-27T06:03:00Z')).toBe('2026-11-27 14:03')
    expect(formatWhen(new Date(2026, 10, 27, 14, 3), now)).toBe('今天 14:03')
    expect(formatWhen(new Date(2026, 10, 26, 9, 12), now)).toBe('昨天 09:12')
    expect(formatWhen(new Date(2026, 10, 25, 14, 3), now)).toBe('11-25 14:03')
    expect(formatWhen(new Date(2025, 0, 5, 8, 0), now)).toBe('2025-01-05 08:00')
  })

  it('computes ages and hides ID numbers in lists', () => {
    expect(age('1953-03-15', new Date(2026, 2, 14))).toBe(72)
    expect(age('1953-03-15', new Date(2026, 2, 15))).toBe(73)
    expect(maskIdNumber('33070219530315121X')).toBe('330702********121X')
  })
})
