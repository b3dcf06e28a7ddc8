import { describe, expect, it } from 'vitest'
import { state, fieldLabel, valueLabel } from '../src/state'
import { setLanguage } from '../src/i18n'

state.schema = [
  {
    kind: 'resident',
    label: { zh: '人口', en: 'Resident' },
    fields: [
      { name: 'phone', label: { zh: '联系电话', en: 'Phone' }, required: false, type: 'phone' },
      {
        name: 'tags',
        label: { zh: '特殊人群', en: 'Special groups' },
        required: false,
        type: 'tags',
        choices: [
          { code: 'elderly_alone', zh: '独居老人', en: 'Elderly living alone' },
          { code: 'disabled', zh: '残疾人', en: 'Disabled' },
        ],
      },
    ],
  },
]

describe('labels from the server’s schema', () => {
  it('names fields and choices in the console’s language', () => {
    setLanguage('zh')
    expect(fieldLabel('resident', 'phone')).toBe('联系电话')
    expect(valueLabel('resident', 'tags', ['elderly_alone', 'disabled'])).toBe('独居老人、残疾人')
    setLanguage('en')
    expect(fieldLabel('resident', 'tags')).toBe('Special groups')
    expect(valueLabel('resident', 'tags', ['disabled'])).toBe('Disabled')
    setLanguage('zh')
  })

  it('falls back to the code for what it does not know', () => {
    expect(fieldLabel('resident', 'shoe_size')).toBe('shoe_size')
    expect(valueLabel('resident', 'tags', ['unknown_tag'])).toBe('unknown_tag')
    expect(valueLabel('resident', 'phone', null)).toBe('—')
  })
})
