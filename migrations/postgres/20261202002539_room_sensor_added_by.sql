-- Modify "room_sensors" table
ALTER TABLE "room_sensors" ADD COLUMN "added_by" uuid NULL;
-- Modify "rooms" table
ALTER TABLE "rooms" ADD COLUMN "members_add_public_sensors" boolean NOT NULL DEFAULT false;
