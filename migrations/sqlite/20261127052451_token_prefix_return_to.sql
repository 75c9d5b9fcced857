-- Add column "prefix" to table: "tokens"
ALTER TABLE `tokens` ADD COLUMN `prefix` text NULL;
-- Add column "return_to" to table: "tokens"
ALTER TABLE `tokens` ADD COLUMN `return_to` text NULL;
