import { beforeEach, describe, expect, it, vi } from 'vitest'

vi.mock('@tauri-apps/api/core', () => ({ invoke: vi.fn() }))
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }))

import type { Grid } from '../src/api'
import { chooseGrid, currentGrid, grids, inScopeGrids, resetState, status } from '../src/state'
import { READY } from './helpers'

const grid = (code: string, parent: string | null, in_scope = false): Grid => ({
  id: code,
  code,
  name: `网格${code}`,
  level: 'unit',
  parent,
  boundary: null,
  in_scope,
})

beforeEach(() => {
  resetState()
  localStorage.clear()
  chooseGrid('')
})

describe('the worker’s grids', () => {
  it('are the grids assigned and every grid below them', () => {
    grids.value = [grid('A', null), grid('A1', 'A', true), grid('A1-1', 'A1'), grid('A1-1-x', 'A1-1'), grid('A2', 'A'), grid('B', null)]
    expect(inScopeGrids.value.map((g) => g.code)).toEqual(['A1', 'A1-1', 'A1-1-x'])
  })

  it('survive a loop in the parents', () => {
    grids.value = [grid('X', 'Y'), grid('Y', 'X')]
    expect(inScopeGrids.value).toEqual([])
  })

  it('default new records to the grid chosen last, else the one assigned', () => {
    grids.value = [grid('A1', null, true), grid('A1-1', 'A1'), grid('A1-2', 'A1')]
    status.value = { ...READY, scope: ['A1'] }
    expect(currentGrid.value?.code).toBe('A1')
    chooseGrid('A1-2')
    expect(currentGrid.value?.code).toBe('A1-2')
    expect(localStorage.getItem('gridwork.grid')).toBe('A1-2')
    chooseGrid('*')
    expect(currentGrid.value?.code).toBe('A1')
  })
})
