-- See migrations/server/0018_supervision.sql.
CREATE INDEX case_steps_supervise ON case_steps (id) WHERE step = 'supervise';
