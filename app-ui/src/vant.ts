// The Vant components the app uses, registered one by one with their styles,
// so the bundle carries only these.
import type { App } from 'vue'
import {
  Button,
  Dialog,
  Empty,
  Icon,
  Loading,
  NavBar,
  Popup,
  PullRefresh,
  Switch,
  Tabbar,
  TabbarItem,
  Tag,
} from 'vant'
import 'vant/es/button/style/index'
import 'vant/es/dialog/style/index'
import 'vant/es/empty/style/index'
import 'vant/es/icon/style/index'
import 'vant/es/loading/style/index'
import 'vant/es/nav-bar/style/index'
import 'vant/es/popup/style/index'
import 'vant/es/pull-refresh/style/index'
import 'vant/es/switch/style/index'
import 'vant/es/tabbar/style/index'
import 'vant/es/tabbar-item/style/index'
import 'vant/es/tag/style/index'
// Used as functions (showToast, showConfirmDialog, showImagePreview).
import 'vant/es/toast/style/index'
import 'vant/es/image-preview/style/index'

export const vantComponents = [Button, Dialog, Empty, Icon, Loading, NavBar, Popup, PullRefresh, Switch, Tabbar, TabbarItem, Tag]

export function useVant(app: App) {
  for (const component of vantComponents) app.use(component)
}
