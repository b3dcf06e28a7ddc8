// The console's words: Chinese first, English switchable (kept in
// localStorage). Names of statuses, categories and departments come from
// the server (categories, departments) or from here (statuses, steps).
import { createI18n } from 'vue-i18n'

const zh = {
  app: { name: '网格通', centre: '指挥中心', lang: 'English', logout: '退出登录', loading: '加载中…', retry: '重试', offline: '无法连接服务器' },
  nav: {
    dashboard: '综合态势', cases: '事件办理', registry: '人口房屋', activity: '巡查走访', map: '网格地图', conflicts: '冲突处理', parked: '被拒修改',
    devices: '设备管理', users: '账号管理', grids: '网格管理', departments: '职能部门', categories: '事件类别', calendar: '节假日',
    review: '数据审核', admin: '系统管理',
  },
  kinds: { grid: '网格', building: '房屋楼栋', household: '户', resident: '人口', patrol: '巡查日志', visit: '走访记录', case: '事件', task: '任务' },
  roles: { admin: '管理员', staff: '中心工作人员', worker: '网格员', handler: '部门处置人员' },
  login: { title: '网格化服务管理平台', subtitle: '指挥中心 · 登录', name: '账号', password: '密码', submit: '登录', needName: '请输入账号', needPassword: '请输入密码', demo: '演示城市账号见服务器启动时的提示' },
  common: {
    save: '保存', cancel: '取消', confirm: '确定', add: '新增', edit: '编辑', refresh: '刷新', more: '加载更多', none: '暂无数据',
    all: '全部', search: '查询', reset: '重置', yes: '是', no: '否', actions: '操作', detail: '详情', saved: '已保存', done: '已完成',
    exportXlsx: '导出 Excel', exportCsv: '导出 CSV', exportGeojson: '导出 GeoJSON', exported: '已导出', noMore: '已全部加载', grid: '网格', name: '名称', code: '编码',
  },
  status: {
    draft: '草稿', reported: '已上报', accepted: '已受理', dispatched: '已派遣', handling: '处置中', handled: '已处置',
    closed: '已结案', rejected: '不予受理', returned: '已退回', visited: '已回访',
  },
  step: {
    report: '上报', accept: '受理', reject: '不予受理', dispatch: '派遣', transfer: '流转', return: '退回', escalate: '上报上级',
    handle: '处置', close: '结案', visit: '回访', supervise: '督办', move: '移交网格',
  },
  satisfaction: { satisfied: '满意', basic: '基本满意', unsatisfied: '不满意' },
  dashboard: {
    total: '事件总数', open: '在办', overdue: '超期', dueSoon: '临期(24小时内)', closureRate: '结案率', onTimeRate: '按期办结率',
    inGridRate: '小事不出格', hoursToHandle: '平均处置用时', hoursToClose: '平均结案用时', hours: '小时',
    byStatus: '按状态', byCategory: '按类别', byDepartment: '按部门', redList: '红榜(按期办结率最高)', blackList: '黑榜(超期最多)',
    workers: '网格员上报', todayActivity: '今日巡查走访(按网格员)', patrols: '巡查', visits: '走访', reported: '上报数', closed: '结案数', inGrid: '格内解决', range: '统计范围',
    all: '全部', days30: '近30天', days7: '近7天', calendarMissing: '{year} 年节假日未录入:跨入该年的办理时限只按周一至周五计算。请在“节假日”中录入。',
  },
  cases: {
    title: '事件办理', new: '登记事件(热线)', status: '状态', category: '类别', department: '处置部门', overdueOnly: '只看超期',
    received: '接收时间', due: '办理时限', description: '事件描述', grid: '所在网格', overdue: '超期', dueSoon: '临期',
    inGrid: '格内解决', location: '发生地点', reporter: '反映人', reporterPhone: '联系电话', urgency: '紧急程度',
    created: '事件已登记', needGrid: '请选择网格', needCategory: '请选择类别', needDescription: '请填写事件描述',
  },
  case: {
    back: '返回列表', summary: '基本信息', trail: '办理过程', fields: '上报内容', handlingGrid: '承办网格', onSiteDue: '到场时限',
    uncounted: '以下年份的节假日未录入,时限按周一至周五计算:{years}', by: '办理人', device: '设备', note: '意见',
    take: '办理', department: '部门', notePlaceholder: '填写办理意见(必填)', noteOptional: '填写说明(可选)', satisfaction: '回访满意度',
    stepDone: '已{step}', photos: '现场照片', noSteps: '当前状态下您没有可办理的操作',
  },
  supervision: { title: '督办', intro: '以下在办事件已被督办,请尽快处理', by: '督办人', none: '没有督办事件' },
  registry: {
    title: '人口房屋台账', kind: '类型', search: '按开头查找:姓名、身份证号、电话或地址', tag: '标签', residence: '人口类型',
    history: '字段历史', value: '值', writer: '填写人', device: '设备', at: '时间', conflict: '冲突', server: '中心', deleted: '已删除',
  },
  activity: {
    title: '巡查走访', day: '日期', worker: '网格员', workers: '网格员当日工作', patrols: '巡查', visits: '走访', minutes: '巡查时长',
    started: '开始', ended: '结束', items: '巡查事项', findings: '发现情况', points: '轨迹点', purpose: '走访目的', notes: '走访情况',
    at: '时间', period: '时段统计', periodTotals: '巡查 {patrols} 次,走访 {visits} 次', periodTruncated: '该时段记录过多,统计不完整,请按网格或缩短时段', days: '在岗天数', onMap: '在地图上查看路线', truncated: '当天记录较多,只显示前 2000 条,请按网格或网格员缩小范围', none: '当天没有巡查或走访记录',
  },
  map: { title: '网格地图', exportGrids: '导出网格 GeoJSON', cases: '事件', openOnly: '只显示在办事件', routes: '巡查路线', routesOf: '{day} 巡查路线 {n} 条', noBoundary: '以下网格未绘制边界:{grids}', legend: '图例' },
  conflicts: {
    title: '冲突处理', intro: '两台设备在互不知情时修改了同一字段。当前值按规则胜出,落选值保留待审。选择保留的值或填写更正,结果将同步到所有设备。',
    record: '记录', field: '字段', winner: '当前值', losers: '落选值', writer: '设备', at: '时间', keep: '保留此值', correct: '填写更正',
    correction: '更正后的值', settled: '已处理,将同步到设备', none: '没有待处理的冲突',
  },
  refusals: {
    out_of_scope: '记录不在(或已不在)该设备负责的网格内', invalid: '内容不符合填写规则', forbidden: '该设备无权这样修改',
    clock_ahead: '设备时钟超前',
  },
  parked: { title: '被拒修改', intro: '设备提交但被服务器拒绝的修改,附原因。审核后可按原样或更正后应用,也可忽略。', device: '设备', record: '记录', reason: '原因', values: '提交的内容', value: '值(可更正)', review: '审核', apply: '应用', applied: '已应用,将同步到设备', applyConfirm: '将以中心的名义写入以下字段:{fields}。确定应用?', applyHint: '勾选要应用的字段,可先更正其值;被拒原因所指的字段标为红色。', truncated: '该修改过大,服务器只保存了字段名:请手工填写要应用的值。', badValue: '“{field}”的值“{text}”格式不对,请检查', dismiss: '忽略', dismissed: '已忽略', overflow: '超出保存上限的拒绝(只计数)', none: '没有被拒修改' },
  devices: {
    title: '设备管理', user: '使用人', version: '应用版本', lastSync: '最近同步', pending: '待同步', refused: '被拒修改', enrolled: '注册时间', revoked: '已停用', active: '正常',
    revoke: '停用', revokeConfirm: '停用设备 {name} 后,它将无法再同步,需清除本机数据。确定停用?', enroll: '注册新设备', forUser: '为网格员',
    code: '注册码', expires: '有效至', scan: '在平板的“注册设备”页面扫描二维码,或输入服务器地址和注册码。', ttl: '有效时长(分钟)', didRevoke: '设备已停用',
  },
  users: { title: '账号管理', role: '角色', grids: '负责网格', department: '所属部门', password: '初始密码', created: '账号已创建', citywide: '全市', needName: '请填写账号名', passwordHint: '中心人员、管理员、处置人员登录控制台需要密码(至少 8 位)' },
  grids: { title: '网格管理', parent: '上级网格', level: '层级', boundary: '边界', drawn: '已绘制', notDrawn: '未绘制', created: '网格已创建', levels: { city: '市', district: '县(区)', street: '街道(镇)', community: '社区(村)', unit: '单元网格', micro: '微网格' } },
  departments: { title: '职能部门', nameZh: '中文名称', nameEn: '英文名称', created: '部门已添加' },
  categories: { title: '事件类别', onSite: '到场时限', solve: '办结时限', department: '默认部门', limitHint: '如 24h(24小时)或 7wd(7个工作日)', recounted: '已保存,在办事件的时限已重新计算' },
  calendar: {
    title: '节假日', year: '年份', source: '依据', notEntered: '该年尚未录入:跨入该年的时限只按周一至周五计算。', day: '日期', kind: '类型',
    holiday: '休息日', workday: '调休上班', nameZh: '名称', nameEn: '英文名称', addDay: '添加日期', recounted: '已保存,{n} 件在办事件的时限已重新计算',
    needSource: '请填写依据(如国务院办公厅通知)',
  },
}

type Messages = typeof zh

const en: Messages = {
  app: { name: 'Gridwork', centre: 'Centre console', lang: '中文', logout: 'Log out', loading: 'Loading…', retry: 'Retry', offline: 'Cannot reach the server' },
  nav: {
    dashboard: 'Dashboard', cases: 'Cases', registry: 'Registry', activity: 'Patrols & visits', map: 'Map', conflicts: 'Conflicts', parked: 'Refused changes',
    devices: 'Devices', users: 'Accounts', grids: 'Grids', departments: 'Departments', categories: 'Categories', calendar: 'Holidays',
    review: 'Data review', admin: 'Administration',
  },
  kinds: { grid: 'Grid', building: 'Building', household: 'Household', resident: 'Resident', patrol: 'Patrol log', visit: 'Visit', case: 'Case', task: 'Task' },
  roles: { admin: 'Admin', staff: 'Centre staff', worker: 'Grid worker', handler: 'Department handler' },
  login: { title: 'Grid management platform', subtitle: 'Centre console · Log in', name: 'Account', password: 'Password', submit: 'Log in', needName: 'Enter your account', needPassword: 'Enter your password', demo: 'The demo city’s logins are printed when the server starts' },
  common: {
    save: 'Save', cancel: 'Cancel', confirm: 'OK', add: 'Add', edit: 'Edit', refresh: 'Refresh', more: 'Load more', none: 'Nothing here',
    all: 'All', search: 'Search', reset: 'Reset', yes: 'Yes', no: 'No', actions: 'Actions', detail: 'Details', saved: 'Saved', done: 'Done',
    exportXlsx: 'Export Excel', exportCsv: 'Export CSV', exportGeojson: 'Export GeoJSON', exported: 'Exported', noMore: 'All loaded', grid: 'Grid', name: 'Name', code: 'Code',
  },
  status: {
    draft: 'Draft', reported: 'Reported', accepted: 'Accepted', dispatched: 'Dispatched', handling: 'Being handled', handled: 'Handled',
    closed: 'Closed', rejected: 'Rejected', returned: 'Returned', visited: 'Visited',
  },
  step: {
    report: 'Report', accept: 'Accept', reject: 'Reject', dispatch: 'Dispatch', transfer: 'Transfer', return: 'Return', escalate: 'Escalate',
    handle: 'Handle', close: 'Close', visit: 'Return visit', supervise: 'Supervise', move: 'Move grid',
  },
  satisfaction: { satisfied: 'Satisfied', basic: 'Fairly satisfied', unsatisfied: 'Unsatisfied' },
  dashboard: {
    total: 'Cases', open: 'Open', overdue: 'Overdue', dueSoon: 'Due within a day', closureRate: 'Closure rate', onTimeRate: 'Closed on time',
    inGridRate: 'Solved in the grid', hoursToHandle: 'Average time to handle', hoursToClose: 'Average time to close', hours: 'h',
    byStatus: 'By status', byCategory: 'By category', byDepartment: 'By department', redList: 'Red list (best on time)', blackList: 'Black list (most overdue)',
    workers: 'Reports by worker', todayActivity: 'Patrols and visits today, by worker', patrols: 'Patrols', visits: 'Visits', reported: 'Reported', closed: 'Closed', inGrid: 'Solved in grid', range: 'Range',
    all: 'All', days30: 'Last 30 days', days7: 'Last 7 days', calendarMissing: 'The holidays of {year} are not entered: deadlines into that year count Monday to Friday only. Enter them under “Holidays”.',
  },
  cases: {
    title: 'Cases', new: 'New case (hotline)', status: 'Status', category: 'Category', department: 'Department', overdueOnly: 'Overdue only',
    received: 'Received', due: 'Due', description: 'Description', grid: 'Grid', overdue: 'Overdue', dueSoon: 'Due soon',
    inGrid: 'Solved in grid', location: 'Location', reporter: 'Caller', reporterPhone: 'Phone', urgency: 'Urgency',
    created: 'Case entered', needGrid: 'Choose a grid', needCategory: 'Choose a category', needDescription: 'Describe the case',
  },
  case: {
    back: 'Back to the list', summary: 'Summary', trail: 'Trail', fields: 'As reported', handlingGrid: 'Handled by grid', onSiteDue: 'On site by',
    uncounted: 'The holidays of these years are not entered; the deadline counts Monday to Friday: {years}', by: 'By', device: 'Device', note: 'Note',
    take: 'Take step', department: 'Department', notePlaceholder: 'Write the note (required)', noteOptional: 'Add a note (optional)', satisfaction: 'Satisfaction',
    stepDone: '{step}: done', photos: 'Photos', noSteps: 'You have no step to take on this case now',
  },
  supervision: { title: 'Supervised', intro: 'These open cases are under supervision: act on them first', by: 'By', none: 'No supervised cases' },
  registry: {
    title: 'Registry', kind: 'Kind', search: 'Starts with: name, ID number, phone or address', tag: 'Tag', residence: 'Residence type',
    history: 'Field history', value: 'Value', writer: 'Written by', device: 'Device', at: 'When', conflict: 'Conflict', server: 'Centre', deleted: 'Deleted',
  },
  activity: {
    title: 'Patrols & visits', day: 'Day', worker: 'Grid worker', workers: 'Each worker’s day', patrols: 'Patrols', visits: 'Visits', minutes: 'Time on patrol',
    started: 'Started', ended: 'Ended', items: 'Items checked', findings: 'Findings', points: 'Route points', purpose: 'Purpose', notes: 'Notes',
    at: 'When', period: 'Over a span of days', periodTotals: '{patrols} patrols, {visits} visits', periodTruncated: 'Too many records in this span: the tally is incomplete; narrow it by grid or days', days: 'Days worked', onMap: 'Routes on the map', truncated: 'Many records that day: the first 2,000 are shown; narrow by grid or worker', none: 'No patrols or visits that day',
  },
  map: { title: 'Map', exportGrids: 'Export grids (GeoJSON)', cases: 'Cases', openOnly: 'Open cases only', routes: 'Patrol routes', routesOf: '{n} patrol routes on {day}', noBoundary: 'Grids without a boundary: {grids}', legend: 'Legend' },
  conflicts: {
    title: 'Conflicts', intro: 'Two devices changed the same field without seeing each other’s edit. One value wins by the rules; the others are kept for review. Keep one or type a correction: every device takes it.',
    record: 'Record', field: 'Field', winner: 'Current value', losers: 'Losing values', writer: 'Device', at: 'When', keep: 'Keep this', correct: 'Correct',
    correction: 'Corrected value', settled: 'Settled; devices take it at their next sync', none: 'No conflicts to review',
  },
  refusals: {
    out_of_scope: 'The record is not (or no longer) in the device’s grids', invalid: 'A value breaks the record’s rules', forbidden: 'The device may not make this change',
    clock_ahead: 'The device’s clock runs ahead',
  },
  parked: { title: 'Refused changes', intro: 'Changes devices sent that the server refused, with the reason. Once reviewed, apply one as sent or corrected, or dismiss it.', device: 'Device', record: 'Record', reason: 'Reason', values: 'What was sent', value: 'Value (may be corrected)', review: 'Review', apply: 'Apply', applied: 'Applied; devices take it at their next sync', applyConfirm: 'These fields will be written as the centre’s: {fields}. Apply?', applyHint: 'Tick the fields to apply and correct their values first if needed; the field the refusal names is in red.', truncated: 'This change was too large: the server kept its field names only. Type the values to apply.', badValue: '“{text}” is not a valid value for {field}', dismiss: 'Dismiss', dismissed: 'Dismissed', overflow: 'Refusals past the parking limit (counted only)', none: 'No refused changes' },
  devices: {
    title: 'Devices', user: 'User', version: 'App version', lastSync: 'Last sync', pending: 'Pending', refused: 'Refused', enrolled: 'Enrolled', revoked: 'Revoked', active: 'Active',
    revoke: 'Revoke', revokeConfirm: 'After revoking {name} it can no longer sync and must wipe its data. Revoke?', enroll: 'Enroll a device', forUser: 'For worker',
    code: 'Enrollment code', expires: 'Valid until', scan: 'Scan the QR code on the tablet’s enrollment screen, or type the server address and the code.', ttl: 'Valid for (minutes)', didRevoke: 'Device revoked',
  },
  users: { title: 'Accounts', role: 'Role', grids: 'Grids', department: 'Department', password: 'Initial password', created: 'Account created', citywide: 'Whole city', needName: 'Enter a name', passwordHint: 'Staff, admins and handlers need a password (8+ characters) to log in' },
  grids: { title: 'Grids', parent: 'Parent', level: 'Level', boundary: 'Boundary', drawn: 'Drawn', notDrawn: 'Not drawn', created: 'Grid created', levels: { city: 'City', district: 'District / county', street: 'Street / town', community: 'Community / village', unit: 'Unit grid', micro: 'Micro-grid' } },
  departments: { title: 'Departments', nameZh: 'Chinese name', nameEn: 'English name', created: 'Department added' },
  categories: { title: 'Categories', onSite: 'On site within', solve: 'Solved within', department: 'Usual department', limitHint: 'e.g. 24h (hours) or 7wd (working days)', recounted: 'Saved; open cases’ deadlines counted again' },
  calendar: {
    title: 'Holidays', year: 'Year', source: 'Source', notEntered: 'This year is not entered: deadlines into it count Monday to Friday only.', day: 'Day', kind: 'Kind',
    holiday: 'Day off', workday: 'Make-up working day', nameZh: 'Chinese name', nameEn: 'English name', addDay: 'Add a day', recounted: 'Saved; {n} open cases’ deadlines moved',
    needSource: 'Name the source (the State Council’s notice)',
  },
}

const LANG_KEY = 'gridwork.console.lang'

export const i18n = createI18n({
  legacy: false,
  locale: localStorage.getItem(LANG_KEY) === 'en' ? 'en' : 'zh',
  fallbackLocale: 'zh',
  messages: { zh, en },
})

export function setLanguage(lang: 'zh' | 'en') {
  i18n.global.locale.value = lang
  localStorage.setItem(LANG_KEY, lang)
  document.documentElement.lang = lang === 'en' ? 'en' : 'zh-CN'
}
