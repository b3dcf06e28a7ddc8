import { describe, expect, it } from 'vitest'
import { clock, duration, editText, named, parseTyped, percent, time, valueText } from '../src/format'
import { parseRoute } from '../src/geo'

describe('format', () => {
  it('shows instants in the city’s time zone, whatever the browser’s', () => {
    // 2026-02-14T16:30:00Z is 2026-02-15 00:30 in Shanghai.
    expect(time(Date.UTC(2026, 1, 14, 16, 30))).toBe('2026-02-15 00:30')
    expect(time(null)).toBe('—')
  })

  it('gives shares with one decimal and a dash for nothing', () => {
    expect(percent(1, 3)).toBe('33.3%')
    expect(percent(0, 0)).toBe('—')
  })

  it('names in the chosen language, with a fallback', () => {
    const d = { name_zh: '城市管理局', name_en: 'City management' }
    expect(named(d, 'zh')).toBe('城市管理局')
    expect(named(d, 'en')).toBe('City management')
    expect(named(undefined, 'zh', 'x')).toBe('x')
  })

  it('joins lists and keeps text as text', () => {
    expect(valueText(['elderly', 'disabled'])).toBe('elderly、disabled')
    expect(valueText('<b>x</b>')).toBe('<b>x</b>')
  })

  it('shows a tablet’s time in the city’s zone, with the date when it is another day', () => {
    // 23:30 UTC on the 20th is 07:30 on the 21st in Shanghai.
    expect(clock('2026-11-20T23:30:00Z', '2026-11-21')).toBe('07:30')
    expect(clock('2026-11-20T23:30:00Z', '2026-11-20')).toBe('11-21 07:30')
    expect(clock('2026-11-20T08:30:00+08:00', '2026-11-20')).toBe('08:30')
    expect(clock(null)).toBe('—')
    expect(clock('not a time')).toBe('not a time')
  })

  it('gives durations in hours and minutes', () => {
    expect(duration(85, 'zh')).toBe('1小时25分')
    expect(duration(40, 'zh')).toBe('40分钟')
    expect(duration(85, 'en')).toBe('1 h 25 min')
  })

  it('reads a route as the app writes it, and nothing else', () => {
    expect(parseRoute('{"type":"LineString","coordinates":[[119.64,29.08],[119.65,29.09]]}')).toEqual([[119.64, 29.08], [119.65, 29.09]])
    expect(parseRoute('{"type":"LineString","coordinates":[[119.64,29.08],[500,29],["x",1]]}')).toEqual([[119.64, 29.08]])
    expect(parseRoute('{"type":"Point","coordinates":[119.64,29.08]}')).toEqual([])
    expect(parseRoute('<script>alert(1)</script>')).toEqual([])
    expect(parseRoute(undefined)).toEqual([])
  })

  it('reads typed text as the kind of value the field holds, and back', () => {
    expect(parseTyped(['a'], 'elderly、disabled, elderly  low_income')).toEqual(['disabled', 'elderly', 'low_income'])
    expect(parseTyped(0, ' 42 ')).toBe(42)
    expect(parseTyped(false, '是')).toBe(true)
    expect(parseTyped(true, 'no')).toBe(false)
    expect(parseTyped(true, 'maybe')).toBeUndefined()
    expect(parseTyped(0, '29,1')).toBeUndefined()
    expect(parseTyped('x', '  <b>王</b> ')).toBe('<b>王</b>')
    expect(parseTyped('x', '   ')).toBeNull()
    expect(editText(['a', 'b'])).toBe('a, b')
    expect(editText(null)).toBe('')
    for (const value of [['a', 'b'], 3.5, 'text']) expect(parseTyped(value, editText(value))).toEqual(value)
  })
})
