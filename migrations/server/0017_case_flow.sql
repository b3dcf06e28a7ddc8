-- The case flow (server/src/cases.rs, docs/case-flow.md): departments
-- and their handlers, case categories with their deadlines, each case's
-- place in the flow, and its append-only trail of steps.

CREATE TABLE departments (
    code TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

-- 'handler' joins the roles: a department's handler, who sees the cases
-- dispatched to it. (SQLite cannot change a CHECK: the table is rebuilt;
-- foreign keys are not enforced on the server's connection.)
CREATE TABLE users_new (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'staff', 'worker', 'handler')),
    password_hash TEXT,
    created_at_ms INTEGER NOT NULL,
    department TEXT REFERENCES departments(code),
    CHECK ((role = 'handler') = (department IS NOT NULL))
) STRICT;
INSERT INTO users_new (id, name, role, password_hash, created_at_ms)
    SELECT id, name, role, password_hash, created_at_ms FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE UNIQUE INDEX users_name ON users(name);
CREATE TRIGGER scope_role_update AFTER UPDATE OF role ON users
BEGIN UPDATE scope_generation SET value = value + 1; END;

-- Deadlines as limits: `24h` (clock hours) or `7wd` (working days after
-- the day of receipt). The codes are the domain's (gridwork-domain's
-- CASE_CATEGORIES); names, limits and the usual department are the city's.
CREATE TABLE case_categories (
    code TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    on_site_limit TEXT,
    solve_limit TEXT NOT NULL,
    department TEXT REFERENCES departments(code)
) STRICT;
INSERT INTO case_categories (code, name_zh, name_en, on_site_limit, solve_limit) VALUES
('city_appearance', '市容环境', 'City appearance', NULL, '7wd'),
('sanitation', '环境卫生', 'Sanitation', NULL, '7wd'),
('public_facilities', '公共设施', 'Public facilities', NULL, '7wd'),
('roads_traffic', '道路交通', 'Roads and traffic', NULL, '7wd'),
('fire_safety', '消防安全', 'Fire safety', NULL, '7wd'),
('work_safety', '安全生产', 'Work safety', NULL, '7wd'),
('public_order', '社会治安', 'Public order', NULL, '7wd'),
('dispute', '矛盾纠纷', 'Dispute', NULL, '7wd'),
('livelihood', '民生服务', 'Livelihood services', NULL, '7wd'),
('utilities', '水电气', 'Water, power and gas', '24h', '3wd'),
('environment', '生态环保', 'Environment', NULL, '7wd'),
('housing_safety', '房屋安全', 'Housing safety', NULL, '7wd'),
('health', '卫生健康', 'Health', NULL, '7wd'),
('market', '市场监管', 'Market supervision', NULL, '7wd'),
('other', '其他', 'Other', NULL, '7wd');

-- One row per case the server has received: where it is in the flow.
-- `grid` is where the case is; `handling_grid` whose centre handles it
-- (one level up per escalation). Times in ms since the epoch, received by
-- the server's clock (a tablet's is not trusted for deadlines).
CREATE TABLE case_flow (
    case_id BLOB PRIMARY KEY,
    grid TEXT NOT NULL,
    handling_grid TEXT NOT NULL,
    category TEXT NOT NULL,
    status TEXT NOT NULL,
    department TEXT,
    received_at_ms INTEGER NOT NULL,
    due_at_ms INTEGER NOT NULL,
    on_site_due_at_ms INTEGER,
    handled_at_ms INTEGER,
    closed_at_ms INTEGER,
    handled_in_grid INTEGER NOT NULL DEFAULT 0,
    satisfaction TEXT,
    updated_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX case_flow_received ON case_flow(received_at_ms DESC, case_id);
CREATE INDEX case_flow_by_status ON case_flow(status, received_at_ms DESC, case_id);
CREATE INDEX case_flow_by_department ON case_flow(department, received_at_ms DESC, case_id);
CREATE INDEX case_flow_by_grid ON case_flow(grid, received_at_ms DESC, case_id);
CREATE INDEX case_flow_by_due ON case_flow(due_at_ms);

-- Every step taken on a case, never changed or removed.
CREATE TABLE case_steps (
    id INTEGER PRIMARY KEY,
    case_id BLOB NOT NULL,
    at_ms INTEGER NOT NULL,
    step TEXT NOT NULL,
    user_id TEXT,
    device_id TEXT,
    from_status TEXT,
    to_status TEXT NOT NULL,
    department TEXT,
    note TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX case_steps_by_case ON case_steps(case_id, id);
CREATE TRIGGER case_steps_no_update BEFORE UPDATE ON case_steps
BEGIN SELECT RAISE(ABORT, 'case_steps is append-only'); END;
CREATE TRIGGER case_steps_no_delete BEFORE DELETE ON case_steps
BEGIN SELECT RAISE(ABORT, 'case_steps is append-only'); END;
