-- Disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- Create "new_room_documents" table
CREATE TABLE `new_room_documents` (`id` uuid NOT NULL, `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, `automerge` blob NOT NULL, `version` integer NOT NULL DEFAULT (0), `compacted_seq` integer NOT NULL DEFAULT (0), `room_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `room_documents_rooms_document` FOREIGN KEY (`room_id`) REFERENCES `rooms` (`id`) ON DELETE CASCADE);
-- Copy rows from old table "room_documents" to new temporary table "new_room_documents"
INSERT INTO `new_room_documents` (`id`, `created_at`, `updated_at`, `automerge`, `version`, `room_id`) SELECT `id`, `created_at`, `updated_at`, `automerge`, `version`, `room_id` FROM `room_documents`;
-- Drop "room_documents" table after copying rows
DROP TABLE `room_documents`;
-- Rename temporary table "new_room_documents" to "room_documents"
ALTER TABLE `new_room_documents` RENAME TO `room_documents`;
-- Create index "room_documents_room_id_key" to table: "room_documents"
CREATE UNIQUE INDEX `room_documents_room_id_key` ON `room_documents` (`room_id`);
-- Create "room_document_changes" table
CREATE TABLE `room_document_changes` (`id` uuid NOT NULL, `seq` integer NOT NULL, `data` blob NOT NULL, `created_at` datetime NOT NULL, `room_id` uuid NOT NULL, PRIMARY KEY (`id`), CONSTRAINT `room_document_changes_rooms_document_changes` FOREIGN KEY (`room_id`) REFERENCES `rooms` (`id`) ON DELETE CASCADE);
-- Create index "roomdocumentchange_room_id_seq" to table: "room_document_changes"
CREATE UNIQUE INDEX `roomdocumentchange_room_id_seq` ON `room_document_changes` (`room_id`, `seq`);
-- Enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;
