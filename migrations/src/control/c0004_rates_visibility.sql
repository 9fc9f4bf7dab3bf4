-- Whether a production lets department heads see their department's rates and pay. Kept with
-- the production (not in its schema) because every authorisation decision reads it.
ALTER TABLE productions ADD COLUMN rates_visible_to_department_heads boolean NOT NULL DEFAULT false;
