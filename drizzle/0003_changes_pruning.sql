ALTER TABLE "accounts" ADD COLUMN "pruned_cursor" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX "changes_created_idx" ON "changes" USING btree ("created_at");