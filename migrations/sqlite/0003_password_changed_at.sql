-- When a user's password last changed (unix ms): refresh tokens issued before it stop working.
ALTER TABLE users ADD COLUMN password_changed_at INTEGER NOT NULL DEFAULT 0;
