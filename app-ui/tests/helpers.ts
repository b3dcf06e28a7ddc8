// A fake Rust side for component tests: answers invoke() from a table of
// handlers, and lets a test fire the events listen() subscribed to.
import type { Mock } from 'vitest'
import { createMemoryHistory, type Router } from 'vue-router'
import type { Plugin } from 'vue'
import { i18n } from '../src/i18n'
import { makeRouter } from '../src/router'
import { useVant } from '../src/vant'
import type { Grid, Status } from '../src/api'

export type Handler = (args: unknown, options?: unknown) => unknown

/** Makes `invoke` answer each command with its handler; unknown commands fail as the Rust side would. */
export function backend(invoke: Mock, handlers: Record<string, Handler>) {
  invoke.mockImplementation(async (cmd: string, args?: unknown, options?: unknown) => {
    const handler = handlers[cmd]
    if (!handler) throw { code: 'not_found', message: `no command ${cmd}`, message_zh: `没有命令${cmd}` }
    return handler(args, options)
  })
}

type EventHandler = (event: { event: string; id: number; payload: unknown }) => void
const subscribers = new Map<string, EventHandler[]>()

/** What `listen` does in the tests: remembers the handler, returns an unlisten. */
export async function fakeListen(event: string, handler: EventHandler) {
  const list = subscribers.get(event) ?? []
  list.push(handler)
  subscribers.set(event, list)
  return () => {
    subscribers.set(event, (subscribers.get(event) ?? []).filter((h) => h !== handler))
  }
}

/** Fires an event at everything listening to it. */
export function fire(event: string, payload: unknown) {
  for (const handler of subscribers.get(event) ?? []) handler({ event, id: 1, payload })
}

export function clearSubscribers() {
  subscribers.clear()
}

const vant: Plugin = { install: (app) => useVant(app) }

/** The plugins every component needs: i18n, a router in memory, Vant. */
export function plugins(router: Router = makeRouter(createMemoryHistory())) {
  return { router, plugins: [i18n, router, vant] }
}

export const READY: Status = {
  phase: 'ready',
  user_name: '网格员何强艳',
  server: 'http://10.0.0.2:8080',
  device_number: 7,
  scope: ['C1-01'],
  key_store: 'key_file',
  retry_at_ms: null,
  error: null,
}

export const GRIDS: Grid[] = [
  { id: 'g0', code: 'C1', name: '和平社区', level: 'community', parent: null, boundary: null, in_scope: false },
  {
    id: 'g1',
    code: 'C1-01',
    name: '和平社区第一网格',
    level: 'unit',
    parent: 'C1',
    boundary: JSON.stringify({ type: 'Polygon', coordinates: [[[119.64, 29.08], [119.65, 29.08], [119.65, 29.09], [119.64, 29.09], [119.64, 29.08]]] }),
    in_scope: true,
  },
]

/** Waits for pending promises and a tick of the DOM. */
export async function settle(times = 5) {
  for (let i = 0; i < times; i++) await new Promise((r) => setTimeout(r, 0))
}
