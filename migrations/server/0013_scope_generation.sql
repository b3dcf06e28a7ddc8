-- Scopes (the grids a person sees) are cached by the server. A cached scope
-- is good while the generation it was worked out at is the current one;
-- these triggers move the generation on with every change that can change a
-- scope, in the transaction that makes it, so no writer can forget to and a
-- scope and its generation are always read from one snapshot.
CREATE TABLE scope_generation (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    value INTEGER NOT NULL
) STRICT;
INSERT INTO scope_generation (one, value) VALUES (1, 1);

CREATE TRIGGER scope_grid_insert AFTER INSERT ON grids
BEGIN UPDATE scope_generation SET value = value + 1; END;
CREATE TRIGGER scope_grid_update AFTER UPDATE OF code, parent, deleted ON grids
BEGIN UPDATE scope_generation SET value = value + 1; END;
CREATE TRIGGER scope_grid_delete AFTER DELETE ON grids
BEGIN UPDATE scope_generation SET value = value + 1; END;
CREATE TRIGGER scope_assignment_insert AFTER INSERT ON user_grids
BEGIN UPDATE scope_generation SET value = value + 1; END;
CREATE TRIGGER scope_assignment_update AFTER UPDATE ON user_grids
BEGIN UPDATE scope_generation SET value = value + 1; END;
CREATE TRIGGER scope_assignment_delete AFTER DELETE ON user_grids
BEGIN UPDATE scope_generation SET value = value + 1; END;
CREATE TRIGGER scope_role_update AFTER UPDATE OF role ON users
BEGIN UPDATE scope_generation SET value = value + 1; END;

-- `attachments` holds only files whose bytes matched their digest (since
-- 0006 unfinished uploads live in `attachment_uploads`): every row was
-- complete and its `received` was its size. The columns go.
ALTER TABLE attachments DROP COLUMN received;
ALTER TABLE attachments DROP COLUMN complete;
