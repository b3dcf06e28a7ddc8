import { describe, expect, it } from 'vitest'
import { named, percent, time, valueText } from '../src/format'

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
})
