-- See `migrations/server/0017_case_flow.sql`.
CREATE TABLE departments (
    code text PRIMARY KEY,
    name_zh text NOT NULL,
    name_en text NOT NULL,
    created_at_ms bigint NOT NULL
);

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('admin', 'staff', 'worker', 'handler'));
ALTER TABLE users ADD COLUMN department text REFERENCES departments (code);
ALTER TABLE users ADD CONSTRAINT users_handler_department CHECK ((role = 'handler') = (department IS NOT NULL));

CREATE TABLE case_categories (
    code text PRIMARY KEY,
    name_zh text NOT NULL,
    name_en text NOT NULL,
    on_site_limit text,
    solve_limit text NOT NULL,
    department text REFERENCES departments (code)
);
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

CREATE TABLE case_flow (
    case_id bytea PRIMARY KEY,
    grid text NOT NULL,
    handling_grid text NOT NULL,
    category text NOT NULL,
    status text NOT NULL,
    department text,
    received_at_ms bigint NOT NULL,
    due_at_ms bigint NOT NULL,
    on_site_due_at_ms bigint,
    handled_at_ms bigint,
    closed_at_ms bigint,
    handled_in_grid boolean NOT NULL DEFAULT false,
    satisfaction text,
    updated_at_ms bigint NOT NULL
);
CREATE INDEX case_flow_received ON case_flow (received_at_ms DESC, case_id);
CREATE INDEX case_flow_by_status ON case_flow (status, received_at_ms DESC, case_id);
CREATE INDEX case_flow_by_department ON case_flow (department, received_at_ms DESC, case_id);
CREATE INDEX case_flow_by_grid ON case_flow (grid, received_at_ms DESC, case_id);
CREATE INDEX case_flow_by_due ON case_flow (due_at_ms);

CREATE TABLE case_steps (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id bytea NOT NULL,
    at_ms bigint NOT NULL,
    step text NOT NULL,
    user_id text,
    device_id text,
    from_status text,
    to_status text NOT NULL,
    department text,
    note text,
    detail text NOT NULL DEFAULT '{}'
);
CREATE INDEX case_steps_by_case ON case_steps (case_id, id);
CREATE FUNCTION case_steps_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_steps is append-only';
END;
$$;
CREATE TRIGGER case_steps_append_only BEFORE UPDATE OR DELETE ON case_steps
    FOR EACH ROW EXECUTE FUNCTION case_steps_append_only();
