import { beforeEach, describe, expect, it, vi } from 'vitest'

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }))
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn(async () => () => {}) }))

import { invoke } from '@tauri-apps/api/core'
import { fireEvent, render, screen, waitFor } from '@testing-library/vue'
import { reactive } from 'vue'
import type { KindDef, RecordData } from '../src/api'
import SchemaForm from '../src/components/SchemaForm.vue'
import { changes, dropAllDrafts, formValues, missingRequired, toPutValue } from '../src/form'
import { setLang } from '../src/i18n'
import { kindDef, loadSchema, schema } from '../src/schema'
import { grids, resetState, status } from '../src/state'
import RecordForm from '../src/views/RecordForm.vue'
import { SCHEMA } from '../dev/schema'
import { backend, GRIDS, plugins, READY, settle } from './helpers'

const invokeMock = vi.mocked(invoke)
const RESIDENT = SCHEMA.find((k) => k.kind === 'resident')!

const badIdNumber = {
  code: 'invalid',
  field: 'id_number',
  message: 'ID-card number: the check digit is wrong (expected 7)',
  message_zh: '身份证号：校验码错误（应为7）',
}

beforeEach(async () => {
  resetState()
  dropAllDrafts()
  invokeMock.mockReset()
  status.value = READY
  grids.value = GRIDS
  schema.value = null
  backend(invokeMock, { schema: () => SCHEMA })
  await loadSchema()
})

describe('the schema-driven form', () => {
  it('labels every field from the schema, in Chinese', () => {
    render(SchemaForm, { props: { def: RESIDENT, values: reactive(formValues(RESIDENT)) }, global: { plugins: plugins().plugins } })
    for (const label of ['所属网格', '姓名', '身份证号', '性别', '出生日期', '联系电话', '所属户', '人口类型', '特殊人群', '备注']) {
      expect(screen.getByText(label)).toBeTruthy()
    }
    // Choices are the schema's, by their labels; the tombstone is never asked.
    expect(screen.getByTestId('field-sex').textContent).toContain('男')
    expect(screen.getByTestId('field-residence_type').textContent).toContain('流动人口')
    expect(screen.getByTestId('field-tags').textContent).toContain('独居老人')
    expect(screen.queryByText('已删除')).toBeNull()
  })

  it('labels every field from the schema, in English', async () => {
    setLang('en')
    render(SchemaForm, { props: { def: RESIDENT, values: reactive(formValues(RESIDENT)) }, global: { plugins: plugins().plugins } })
    for (const label of ['Grid', 'Name', 'ID-card number', 'Sex', 'Birth date', 'Phone', 'Household', 'Residence type', 'Special groups']) {
      expect(screen.getByText(label)).toBeTruthy()
    }
    expect(screen.getByTestId('field-sex').textContent).toContain('Female')
    expect(screen.getByTestId('field-tags').textContent).toContain('Elderly living alone')
  })

  it('gives each type its input', () => {
    const CASE = SCHEMA.find((k) => k.kind === 'case')!
    render(SchemaForm, { props: { def: CASE, values: reactive(formValues(CASE)) }, global: { plugins: plugins().plugins } })
    expect(screen.getByTestId('field-description').tagName).toBe('TEXTAREA')
    expect(screen.getByTestId('field-location').tagName).toBe('INPUT')
    expect(screen.getByTestId('field-latitude').getAttribute('inputmode')).toBe('decimal')
    expect(screen.getByTestId('field-reporter_phone').getAttribute('inputmode')).toBe('tel')
    expect(screen.getByTestId('field-deadline').getAttribute('type')).toBe('datetime-local')
    expect(screen.getByTestId('photo-input').getAttribute('accept')).toBe('image/*')
    // 15 categories open a list; 3 urgencies are chips.
    expect(screen.getByTestId('field-category').tagName).toBe('BUTTON')
    expect(screen.getByTestId('field-urgency-urgent')).toBeTruthy()
  })

  it('writes what is typed and picked into the draft', async () => {
    const values = reactive(formValues(RESIDENT))
    render(SchemaForm, { props: { def: RESIDENT, values }, global: { plugins: plugins().plugins } })
    await fireEvent.update(screen.getByTestId('field-name'), '李四')
    await fireEvent.click(screen.getByTestId('field-sex-female').querySelector('input')!)
    await fireEvent.click(screen.getByTestId('field-tags-disabled').querySelector('input')!)
    await fireEvent.click(screen.getByTestId('field-tags-veteran').querySelector('input')!)
    await fireEvent.click(screen.getByTestId('field-tags-disabled').querySelector('input')!)
    expect(values.name).toBe('李四')
    expect(values.sex).toBe('female')
    expect(values.tags).toEqual(['veteran'])
  })
})

describe('saving a form', () => {
  async function openNewResident() {
    const { router, plugins: p } = plugins()
    await router.push('/new/resident?grid=C1-01')
    await router.isReady()
    const view = render(RecordForm, { props: { kind: 'resident', prefill: { grid: 'C1-01' } }, global: { plugins: p } })
    await waitFor(() => screen.getByTestId('field-name'))
    return { router, view }
  }

  it('shows a refused field’s error under that field and keeps everything typed', async () => {
    const put = vi.fn(() => {
      throw badIdNumber
    })
    backend(invokeMock, { schema: () => SCHEMA, put_record: put })
    await openNewResident()
    await fireEvent.update(screen.getByTestId('field-name'), '王小明')
    await fireEvent.update(screen.getByTestId('field-id_number'), '330702199001011235')
    await fireEvent.update(screen.getByTestId('field-phone'), '139 0579 1234')
    await fireEvent.click(screen.getByTestId('form-save'))
    await settle()

    expect(put).toHaveBeenCalledWith(
      { kind: 'resident', fields: { grid: 'C1-01', name: '王小明', id_number: '330702199001011235', phone: '139 0579 1234' } },
      undefined,
    )
    expect(screen.getByTestId('field-error-id_number').textContent).toBe('身份证号：校验码错误（应为7）')
    expect(screen.queryByTestId('field-error-name')).toBeNull()
    expect((screen.getByTestId('field-name') as HTMLInputElement).value).toBe('王小明')
    expect((screen.getByTestId('field-id_number') as HTMLInputElement).value).toBe('330702199001011235')
    expect((screen.getByTestId('field-phone') as HTMLInputElement).value).toBe('139 0579 1234')

    // The same error, in English once the worker switches.
    setLang('en')
    await settle()
    expect(screen.getByTestId('field-error-id_number').textContent).toBe('ID-card number: the check digit is wrong (expected 7)')

    // Correcting the field clears its error.
    await fireEvent.update(screen.getByTestId('field-id_number'), '330702199001011237')
    expect(screen.queryByTestId('field-error-id_number')).toBeNull()
  })

  it('asks for required fields before saving, in the worker’s language', async () => {
    const put = vi.fn()
    backend(invokeMock, { schema: () => SCHEMA, put_record: put })
    await openNewResident()
    await fireEvent.click(screen.getByTestId('form-save'))
    await settle()
    expect(put).not.toHaveBeenCalled()
    expect(screen.getByTestId('field-error-name').textContent).toBe('请填写姓名')
  })

  it('keeps the draft when the worker leaves the form and comes back', async () => {
    backend(invokeMock, { schema: () => SCHEMA })
    const { view } = await openNewResident()
    await fireEvent.update(screen.getByTestId('field-name'), '赵六')
    await fireEvent.update(screen.getByTestId('field-notes'), '住在一楼')
    view.unmount()
    await openNewResident()
    expect((screen.getByTestId('field-name') as HTMLInputElement).value).toBe('赵六')
    expect((screen.getByTestId('field-notes') as HTMLTextAreaElement).value).toBe('住在一楼')
    expect(screen.getByText('未保存的内容已保留')).toBeTruthy()
  })

  it('sends only the fields that changed when editing', async () => {
    const record: RecordData = { id: 'r1', kind: 'resident', grid: 'C1-01', name: '张三', sex: 'male', tags: ['veteran'], birth_date: '1950-01-01' }
    const put = vi.fn(() => ({ id: 'r1' }))
    backend(invokeMock, {
      schema: () => SCHEMA,
      get_record: () => ({ record, fields: [], refused: [] }),
      put_record: put,
    })
    const { router, plugins: p } = plugins()
    await router.push('/record/resident/r1/edit')
    render(RecordForm, { props: { kind: 'resident', id: 'r1' }, global: { plugins: p } })
    await waitFor(() => screen.getByTestId('field-name'))
    expect((screen.getByTestId('field-name') as HTMLInputElement).value).toBe('张三')
    await fireEvent.update(screen.getByTestId('field-phone'), '13905791234')
    await fireEvent.click(screen.getByTestId('field-tags-elderly_alone').querySelector('input')!)
    await fireEvent.click(screen.getByTestId('form-save'))
    await settle()
    expect(put).toHaveBeenCalledWith(
      { kind: 'resident', id: 'r1', fields: { phone: '13905791234', tags: ['veteran', 'elderly_alone'] } },
      undefined,
    )
  })
})

describe('form values', () => {
  const def = (): KindDef => kindDef('case')!

  it('turns stored values into form text and back into what put_record takes', () => {
    const values = formValues(def(), {
      id: 'c1',
      kind: 'case',
      latitude: 29.08,
      handled_in_grid: true,
      attachments: ['ab'],
      deadline: '2026-11-27T06:00:00Z',
    })
    expect(values.latitude).toBe('29.08')
    expect(values.handled_in_grid).toBe(true)
    expect(values.attachments).toEqual(['ab'])
    expect(values.deadline).toBe('2026-11-27T14:00')
    const field = (name: string) => def().fields.find((f) => f.name === name)!
    expect(toPutValue(field('handled_in_grid'), true)).toBe('true')
    expect(toPutValue(field('deadline'), '2026-11-27T14:00')).toBe('2026-11-27T14:00:00+08:00')
    expect(toPutValue(field('deadline'), '')).toBe('')
    expect(toPutValue(field('attachments'), ['a', 'b'])).toEqual(['a', 'b'])
  })

  it('sends what changed, clearing with ""', () => {
    const initial = formValues(def(), { id: 'c1', kind: 'case', location: '和平路', tags: [] } as RecordData)
    const current = { ...initial, location: '', description: '新的描述' }
    expect(changes(def(), initial, current, false)).toEqual({ location: '', description: '新的描述' })
    // Tags in another order are no change.
    const t0 = { ...initial, attachments: ['a', 'b'] }
    expect(changes(def(), t0, { ...t0, attachments: ['b', 'a'] }, false)).toEqual({})
    // A new record sends what holds something.
    expect(changes(def(), initial, current, true)).toEqual({ description: '新的描述' })
  })

  it('names the required fields left empty', () => {
    const values = formValues(def(), null, { grid: 'C1-01', description: '  ' })
    expect(missingRequired(def(), values).map((f) => f.name)).toEqual(['category', 'description', 'status'])
    expect(missingRequired(def(), values, ['grid', 'category']).map((f) => f.name)).toEqual(['category'])
  })
})
