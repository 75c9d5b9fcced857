-- Modify "tokens" table
ALTER TABLE "tokens" ADD COLUMN "prefix" character varying NULL, ADD COLUMN "return_to" character varying NULL;
