// The console's pages. Each page asks the server, which checks the role
// and grid scope; the guards here only keep menus and pages tidy.
import { createRouter, createWebHistory } from 'vue-router'
import { session, whenUnauthorized } from './api'
import { forget, loadSession, state } from './state'

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/login', name: 'login', component: () => import('./views/Login.vue'), meta: { public: true } },
    {
      path: '/',
      component: () => import('./views/Layout.vue'),
      children: [
        { path: '', name: 'dashboard', component: () => import('./views/Dashboard.vue') },
        { path: 'cases', name: 'cases', component: () => import('./views/Cases.vue') },
        { path: 'cases/:id', name: 'case', component: () => import('./views/CaseDetail.vue'), props: true },
        { path: 'registry', name: 'registry', component: () => import('./views/Registry.vue') },
        { path: 'activity', name: 'activity', component: () => import('./views/Activity.vue') },
        { path: 'map', name: 'map', component: () => import('./views/MapView.vue') },
        { path: 'conflicts', name: 'conflicts', component: () => import('./views/Conflicts.vue') },
        { path: 'parked', name: 'parked', component: () => import('./views/Parked.vue') },
        { path: 'devices', name: 'devices', component: () => import('./views/Devices.vue') },
        { path: 'users', name: 'users', component: () => import('./views/Users.vue') },
        { path: 'grids', name: 'grids', component: () => import('./views/Grids.vue') },
        { path: 'departments', name: 'departments', component: () => import('./views/Departments.vue') },
        { path: 'categories', name: 'categories', component: () => import('./views/Categories.vue') },
        { path: 'calendar', name: 'calendar', component: () => import('./views/Calendar.vue') },
        { path: ':rest(.*)*', redirect: '/' },
      ],
    },
  ],
})

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  if (!session.token) return { name: 'login', query: { to: to.fullPath } }
  if (!state.me) {
    try {
      await loadSession()
    } catch {
      forget()
      return { name: 'login', query: { to: to.fullPath } }
    }
  }
  return true
})

whenUnauthorized(() => {
  forget()
  if (router.currentRoute.value.name !== 'login') {
    void router.push({ name: 'login', query: { to: router.currentRoute.value.fullPath, expired: '1' } })
  }
})
