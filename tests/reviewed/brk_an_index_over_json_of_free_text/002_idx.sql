-- Description: index over json(meta)
CREATE INDEX idx_t_meta ON t(json(meta));
