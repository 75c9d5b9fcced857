-- Modify "room_documents" table
ALTER TABLE "room_documents" ADD COLUMN "compacted_seq" bigint NOT NULL DEFAULT 0;
-- Create "room_document_changes" table
CREATE TABLE "room_document_changes" ("id" uuid NOT NULL, "seq" bigint NOT NULL, "data" bytea NOT NULL, "created_at" timestamptz NOT NULL, "room_id" uuid NOT NULL, PRIMARY KEY ("id"), CONSTRAINT "room_document_changes_rooms_document_changes" FOREIGN KEY ("room_id") REFERENCES "rooms" ("id") ON UPDATE NO ACTION ON DELETE CASCADE);
-- Create index "roomdocumentchange_room_id_seq" to table: "room_document_changes"
CREATE UNIQUE INDEX "roomdocumentchange_room_id_seq" ON "room_document_changes" ("room_id", "seq");
