// "Are you sure?" in Vant's dialog, answered as a boolean. Its buttons get
// test ids (confirm-ok, confirm-cancel) for the end-to-end tests.
import { nextTick } from 'vue'
import { showConfirmDialog } from 'vant'
import { i18n } from './i18n'

export async function confirm(message: string, okText?: string): Promise<boolean> {
  const t = i18n.global.t
  const answer = showConfirmDialog({
    message,
    confirmButtonText: okText ?? t('app.confirm'),
    cancelButtonText: t('app.cancel'),
    className: 'gw-confirm',
  })
  await nextTick()
  const dialogs = document.querySelectorAll('.gw-confirm')
  const dialog = dialogs[dialogs.length - 1]
  dialog?.querySelector('.van-dialog__confirm')?.setAttribute('data-testid', 'confirm-ok')
  dialog?.querySelector('.van-dialog__cancel')?.setAttribute('data-testid', 'confirm-cancel')
  try {
    await answer
    return true
  } catch {
    return false
  }
}
