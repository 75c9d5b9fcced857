-- Modify "tokens" table
ALTER TABLE "tokens" ADD COLUMN "return_to" character varying NULL;
