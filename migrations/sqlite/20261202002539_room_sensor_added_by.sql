-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_rooms" table
CREATE TABLE `new_rooms` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `description` text NULL, `is_public` bool NOT NULL DEFAULT (false), `features` json NOT NULL, `join_code` text NULL, `join_code_expires_at` datetime NULL, `members_add_public_sensors` bool NOT NULL DEFAULT (false), `owner_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `rooms_users_owned_rooms` FOREIGN KEY (`owner_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "rooms" to new temporary table "new_rooms"
INSERT INTO `new_rooms` (`id`, `created_at`, `updated_at`, `name`, `description`, `is_public`, `features`, `join_code`, `join_code_expires_at`, `owner_id`) SELECT `id`, `created_at`, `updated_at`, `name`, `description`, `is_public`, `features`, `join_code`, `join_code_expires_at`, `owner_id` FROM `rooms`;
-- Drop "rooms" table after copying rows
DROP TABLE `rooms`;
-- Rename temporary table "new_rooms" to "rooms"
ALTER TABLE `new_rooms` RENAME TO `rooms`;
-- Create index "room_join_code" to table: "rooms"
CREATE UNIQUE INDEX `room_join_code` ON `rooms` (`join_code`);
-- Create index "room_owner_id" to table: "rooms"
CREATE INDEX `room_owner_id` ON `rooms` (`owner_id`);
-- Create index "room_is_public" to table: "rooms"
CREATE INDEX `room_is_public` ON `rooms` (`is_public`);
-- Add column "added_by" to table: "room_sensors"
ALTER TABLE `room_sensors` ADD COLUMN `added_by` uuid NULL;
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
