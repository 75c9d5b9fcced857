-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_users" table
CREATE TABLE `new_users` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NULL, `display_name` text NOT NULL, `password_hash` text NULL, `oidc_issuer` text NULL, `oidc_subject` text NULL, `is_guest` bool NOT NULL DEFAULT (false), `guest_expires_at` datetime NULL, `preferences` json NOT NULL, `preferences_version` integer NOT NULL DEFAULT (0), `last_seen_at` datetime NULL, PRIMARY KEY (`id`));
-- Copy rows from old table "users" to new temporary table "new_users"
INSERT INTO `new_users` (`id`, `created_at`, `updated_at`, `email`, `display_name`, `password_hash`, `oidc_issuer`, `oidc_subject`, `is_guest`, `guest_expires_at`, `preferences`, `last_seen_at`) SELECT `id`, `created_at`, `updated_at`, `email`, `display_name`, `password_hash`, `oidc_issuer`, `oidc_subject`, `is_guest`, `guest_expires_at`, `preferences`, `last_seen_at` FROM `users`;
-- Drop "users" table after copying rows
DROP TABLE `users`;
-- Rename temporary table "new_users" to "users"
ALTER TABLE `new_users` RENAME TO `users`;
-- Create index "user_email" to table: "users"
CREATE UNIQUE INDEX `user_email` ON `users` (`email`);
-- Create index "user_oidc_issuer_oidc_subject" to table: "users"
CREATE UNIQUE INDEX `user_oidc_issuer_oidc_subject` ON `users` (`oidc_issuer`, `oidc_subject`);
-- Create index "user_is_guest_guest_expires_at" to table: "users"
CREATE INDEX `user_is_guest_guest_expires_at` ON `users` (`is_guest`, `guest_expires_at`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
