-- Supervision notes (督办) the handlers and the centre are shown: the
-- newest supervise steps, found without reading the whole trail.
CREATE INDEX case_steps_supervise ON case_steps(id) WHERE step = 'supervise';
