// The app's shared state: where the app is (app_status), the grids, the sync
// state kept fresh by the `sync-state` event, and the revoked notice.
import { computed, ref, shallowRef } from 'vue'
import { api, onRevoked, onSyncState, setPhaseErrorHandler, type Grid, type Status, type SyncState } from './api'

export const status = shallowRef<Status | null>(null)
/** Set when app_status() itself failed: the UI offers a retry. */
export const statusError = shallowRef<unknown>(null)
export const grids = shallowRef<Grid[]>([])
export const syncState = shallowRef<SyncState | null>(null)
/** The server revoked this device: the dialog is up until the worker closes it. */
export const revoked = ref(false)

export const userName = computed(() => status.value?.user_name ?? '')
/**
 * The grids the worker records in: those assigned (in_scope) and every grid
 * below them, as the device's scope is (ARCHITECTURE.md, invariant 9).
 */
export const inScopeGrids = computed(() => {
  const byCode = new Map(grids.value.map((g) => [g.code, g]))
  const mine = (g: Grid): boolean => {
    const seen = new Set<string>()
    for (let at: Grid | undefined = g; at && !seen.has(at.code); at = at.parent ? byCode.get(at.parent) : undefined) {
      if (at.in_scope) return true
      seen.add(at.code)
    }
    return false
  }
  return grids.value.filter(mine).sort((a, b) => a.code.localeCompare(b.code))
})

export async function refreshStatus(): Promise<Status | null> {
  try {
    const next = await api.appStatus()
    status.value = next
    statusError.value = null
    return next
  } catch (e) {
    statusError.value = e
    return null
  }
}

/** Takes a Status answered by enroll/set_pin/unlock/lock as the new one. */
export function setStatus(next: Status) {
  status.value = next
  statusError.value = null
}

export async function loadGrids(): Promise<Grid[]> {
  grids.value = await api.grids()
  return grids.value
}

export function gridByCode(code: string): Grid | undefined {
  return grids.value.find((g) => g.code === code)
}

/** "和平社区一网格" for a code; the code itself when the grid is unknown. */
export function gridName(code: string): string {
  return gridByCode(code)?.name ?? code
}

export async function refreshSync(): Promise<SyncState | null> {
  try {
    syncState.value = await api.syncState()
  } catch {
    // Not ready (locked…): the event brings it later.
  }
  return syncState.value
}

const syncListeners = new Set<(state: SyncState, before: SyncState | null) => void>()

/** Called on every sync-state event with the new and the previous state. */
export function onSyncChange(handler: (state: SyncState, before: SyncState | null) => void): () => void {
  syncListeners.add(handler)
  return () => syncListeners.delete(handler)
}

let listening = false
const revokedHandlers = new Set<() => void>()

/** Runs when the device is revoked (caches and drafts are dropped there). */
export function onRevokedCleanup(handler: () => void) {
  revokedHandlers.add(handler)
}

/** Subscribes once to the Rust side's events and to phase-changing errors. */
export async function startListening() {
  if (listening) return
  listening = true
  setPhaseErrorHandler(() => {
    void refreshStatus()
  })
  await onSyncState((state) => {
    const before = syncState.value
    syncState.value = state
    for (const handler of syncListeners) handler(state, before)
  })
  await onRevoked(() => {
    for (const handler of revokedHandlers) handler()
    grids.value = []
    syncState.value = null
    revoked.value = true
    void refreshStatus()
  })
}

/** For tests: forget everything. */
export function resetState() {
  status.value = null
  statusError.value = null
  grids.value = []
  syncState.value = null
  revoked.value = false
  listening = false
  syncListeners.clear()
  revokedHandlers.clear()
  setPhaseErrorHandler(null)
}

// The grid the worker last chose in the registry and on patrol ("*": all of them).
const GRID_KEY = 'gridwork.grid'
export const ALL_GRIDS = '*'
export const chosenGrid = ref<string>(readChosenGrid())

function readChosenGrid(): string {
  try {
    return localStorage.getItem(GRID_KEY) ?? ''
  } catch {
    return ''
  }
}

export function chooseGrid(code: string) {
  chosenGrid.value = code
  try {
    localStorage.setItem(GRID_KEY, code)
  } catch {
    // No storage: remembered for this session.
  }
}

/**
 * The grid new records go to unless the worker picks another: the one last
 * chosen if it is still theirs, else the grid they were assigned (the first
 * of their scope), else the first they may record in.
 */
export const currentGrid = computed(() => {
  const mine = inScopeGrids.value
  return (
    mine.find((g) => g.code === chosenGrid.value) ??
    mine.find((g) => g.code === status.value?.scope?.[0]) ??
    mine[0] ??
    null
  )
})
