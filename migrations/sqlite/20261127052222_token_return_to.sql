-- Add column "return_to" to table: "tokens"
ALTER TABLE `tokens` ADD COLUMN `return_to` text NULL;
