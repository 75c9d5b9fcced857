-- Modify "users" table
ALTER TABLE "users" ADD COLUMN "preferences_version" bigint NOT NULL DEFAULT 0;
