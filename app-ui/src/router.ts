// The screens of the ready app. The phases before it (enroll, PIN…) are not
// routes: App.vue shows them from app_status().phase.
import { createRouter, createWebHashHistory, type RouteLocationNormalized, type RouterHistory } from 'vue-router'
import Today from './views/Today.vue'
import Patrol from './views/Patrol.vue'
import Registry from './views/Registry.vue'
import RecordDetail from './views/RecordDetail.vue'
import RecordForm from './views/RecordForm.vue'
import Cases from './views/Cases.vue'
import ReportCase from './views/ReportCase.vue'
import CaseDetail from './views/CaseDetail.vue'
import Sync from './views/Sync.vue'
import Settings from './views/Settings.vue'

export type Tab = 'today' | 'patrol' | 'registry' | 'cases' | 'sync'

/** Query text as one string ("" when absent). */
export function q(route: RouteLocationNormalized, name: string): string {
  const v = route.query[name]
  return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? '') : ''
}

const tabOfKind = (kind: unknown): Tab => (kind === 'case' ? 'cases' : kind === 'patrol' ? 'patrol' : kind === 'task' ? 'today' : 'registry')

export function makeRouter(history: RouterHistory = createWebHashHistory()) {
  return createRouter({
    history,
    routes: [
      { path: '/', redirect: '/today' },
      { path: '/today', component: Today, meta: { tab: 'today' } },
      { path: '/patrol', component: Patrol, meta: { tab: 'patrol' } },
      { path: '/registry', component: Registry, meta: { tab: 'registry' } },
      {
        path: '/record/:kind/:id',
        component: RecordDetail,
        props: true,
        beforeEnter: (to) => (to.params.kind === 'case' ? `/cases/${String(to.params.id)}` : undefined),
      },
      {
        path: '/record/:kind/:id/edit',
        component: RecordForm,
        props: (route) => ({ kind: route.params.kind, id: route.params.id }),
      },
      {
        path: '/new/:kind',
        component: RecordForm,
        props: (route) => ({ kind: route.params.kind, prefill: prefillOf(route) }),
      },
      { path: '/cases', component: Cases, meta: { tab: 'cases' } },
      {
        path: '/cases/new',
        component: ReportCase,
        meta: { tab: 'cases' },
        props: (route) => ({ prefill: prefillOf(route) }),
      },
      { path: '/cases/:id', component: CaseDetail, props: true, meta: { tab: 'cases' } },
      { path: '/sync', component: Sync, meta: { tab: 'sync' } },
      { path: '/settings', component: Settings, meta: { tab: 'today' } },
      { path: '/:rest(.*)*', redirect: '/today' },
    ],
  })
}

/** The tab a route belongs to (forms and details: the tab of their kind). */
export function tabOf(route: RouteLocationNormalized): Tab {
  const tab = route.meta.tab as Tab | undefined
  return tab ?? tabOfKind(route.params.kind)
}

/** Fields a new record starts with, from the query (?grid=…&building=…). */
function prefillOf(route: RouteLocationNormalized): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(route.query)) {
    if (typeof value === 'string') out[key] = value
  }
  return out
}
