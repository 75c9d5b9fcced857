-- Create "recordings" table
CREATE TABLE `recordings` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `attribute_id` text NULL, `started_at` datetime NOT NULL, `stopped_at` datetime NULL, `retention_seconds` integer NULL, `sensor_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `recordings_sensors_recordings` FOREIGN KEY (`sensor_id`) REFERENCES `sensors` (`id`) ON DELETE CASCADE);
-- Create index "recording_sensor_id_started_at" to table: "recordings"
CREATE INDEX `recording_sensor_id_started_at` ON `recordings` (`sensor_id`, `started_at`);
-- Create "rooms" table
CREATE TABLE `rooms` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `description` text NULL, `is_public` bool NOT NULL DEFAULT (false), `features` json NOT NULL, `join_code` text NULL, `join_code_expires_at` datetime NULL, `owner_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `rooms_users_owned_rooms` FOREIGN KEY (`owner_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "room_join_code" to table: "rooms"
CREATE UNIQUE INDEX `room_join_code` ON `rooms` (`join_code`);
-- Create index "room_owner_id" to table: "rooms"
CREATE INDEX `room_owner_id` ON `rooms` (`owner_id`);
-- Create index "room_is_public" to table: "rooms"
CREATE INDEX `room_is_public` ON `rooms` (`is_public`);
-- Create "room_documents" table
CREATE TABLE `room_documents` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `automerge` blob NOT NULL, `version` integer NOT NULL DEFAULT (0), `room_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `room_documents_rooms_document` FOREIGN KEY (`room_id`) REFERENCES `rooms` (`id`) ON DELETE CASCADE);
-- Create index "room_documents_room_id_key" to table: "room_documents"
CREATE UNIQUE INDEX `room_documents_room_id_key` ON `room_documents` (`room_id`);
-- Create "room_memberships" table
CREATE TABLE `room_memberships` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `role` text NOT NULL DEFAULT ('member'), `room_id` uuid NOT NULL, `user_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `room_memberships_rooms_memberships` FOREIGN KEY (`room_id`) REFERENCES `rooms` (`id`) ON DELETE CASCADE, CONSTRAINT `room_memberships_users_memberships` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "roommembership_room_id_user_id" to table: "room_memberships"
CREATE UNIQUE INDEX `roommembership_room_id_user_id` ON `room_memberships` (`room_id`, `user_id`);
-- Create index "roommembership_user_id" to table: "room_memberships"
CREATE INDEX `roommembership_user_id` ON `room_memberships` (`user_id`);
-- Create "room_sensors" table
CREATE TABLE `room_sensors` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `room_id` uuid NOT NULL, `sensor_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `room_sensors_rooms_room_sensors` FOREIGN KEY (`room_id`) REFERENCES `rooms` (`id`) ON DELETE CASCADE, CONSTRAINT `room_sensors_sensors_room_sensors` FOREIGN KEY (`sensor_id`) REFERENCES `sensors` (`id`) ON DELETE CASCADE);
-- Create index "roomsensor_room_id_sensor_id" to table: "room_sensors"
CREATE UNIQUE INDEX `roomsensor_room_id_sensor_id` ON `room_sensors` (`room_id`, `sensor_id`);
-- Create index "roomsensor_sensor_id" to table: "room_sensors"
CREATE INDEX `roomsensor_sensor_id` ON `room_sensors` (`sensor_id`);
-- Create "sensors" table
CREATE TABLE `sensors` (`id` text NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `name` text NOT NULL, `sensor_type` text NULL, `visibility` text NOT NULL DEFAULT ('private'), `recording_enabled` bool NOT NULL DEFAULT (false), `recording_retention_seconds` integer NULL, `connector_name` text NULL, `last_seen_at` datetime NULL, `owner_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sensors_users_sensors` FOREIGN KEY (`owner_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "sensor_owner_id" to table: "sensors"
CREATE INDEX `sensor_owner_id` ON `sensors` (`owner_id`);
-- Create index "sensor_visibility" to table: "sensors"
CREATE INDEX `sensor_visibility` ON `sensors` (`visibility`);
-- Create "sensor_attributes" table
CREATE TABLE `sensor_attributes` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `attribute_id` text NOT NULL, `attribute_type` text NOT NULL, `unit` text NULL, `sample_rate_hz` real NULL, `sensor_id` text NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `sensor_attributes_sensors_attributes` FOREIGN KEY (`sensor_id`) REFERENCES `sensors` (`id`) ON DELETE CASCADE);
-- Create index "sensorattribute_sensor_id_attribute_id" to table: "sensor_attributes"
CREATE UNIQUE INDEX `sensorattribute_sensor_id_attribute_id` ON `sensor_attributes` (`sensor_id`, `attribute_id`);
-- Create "simulator_runs" table
CREATE TABLE `simulator_runs` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `scenario` text NOT NULL, `status` text NOT NULL DEFAULT ('pending'), `started_at` datetime NULL, `stopped_at` datetime NULL, `samples_sent` integer NOT NULL DEFAULT (0), `sensor_count` integer NOT NULL DEFAULT (0), `config` json NOT NULL, `error` text NULL, `room_id` uuid NULL, `owner_id` uuid NULL, PRIMARY KEY (`id`), CONSTRAINT `simulator_runs_rooms_simulator_runs` FOREIGN KEY (`room_id`) REFERENCES `rooms` (`id`) ON DELETE SET NULL, CONSTRAINT `simulator_runs_users_simulator_runs` FOREIGN KEY (`owner_id`) REFERENCES `users` (`id`) ON DELETE CASCADE);
-- Create index "simulatorrun_owner_id_status" to table: "simulator_runs"
CREATE INDEX `simulatorrun_owner_id_status` ON `simulator_runs` (`owner_id`, `status`);
-- Create index "simulatorrun_status" to table: "simulator_runs"
CREATE INDEX `simulatorrun_status` ON `simulator_runs` (`status`);
-- Create "tokens" table
CREATE TABLE `tokens` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `hash` blob NOT NULL, `kind` text NOT NULL, `name` text NULL, `scope` text NOT NULL DEFAULT ('full'), `email` text NULL, `expires_at` datetime NULL, `revoked_at` datetime NULL, `last_used_at` datetime NULL, `user_id` uuid NULL, PRIMARY KEY (`id`), CONSTRAINT `tokens_users_tokens` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE, CONSTRAINT `token_owner` CHECK ((kind = 'magic_link' AND email IS NOT NULL) OR (kind <> 'magic_link' AND user_id IS NOT NULL)));
-- Create index "token_hash" to table: "tokens"
CREATE UNIQUE INDEX `token_hash` ON `tokens` (`hash`);
-- Create index "token_user_id_kind" to table: "tokens"
CREATE INDEX `token_user_id_kind` ON `tokens` (`user_id`, `kind`);
-- Create index "token_expires_at" to table: "tokens"
CREATE INDEX `token_expires_at` ON `tokens` (`expires_at`);
-- Create "users" table
CREATE TABLE `users` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `email` text NULL, `display_name` text NOT NULL, `password_hash` text NULL, `oidc_issuer` text NULL, `oidc_subject` text NULL, `is_guest` bool NOT NULL DEFAULT (false), `guest_expires_at` datetime NULL, `preferences` json NOT NULL, `last_seen_at` datetime NULL, PRIMARY KEY (`id`));
-- Create index "user_email" to table: "users"
CREATE UNIQUE INDEX `user_email` ON `users` (`email`);
-- Create index "user_oidc_issuer_oidc_subject" to table: "users"
CREATE UNIQUE INDEX `user_oidc_issuer_oidc_subject` ON `users` (`oidc_issuer`, `oidc_subject`);
-- Create index "user_is_guest_guest_expires_at" to table: "users"
CREATE INDEX `user_is_guest_guest_expires_at` ON `users` (`is_guest`, `guest_expires_at`);
