CREATE TABLE "link_access" (
	"token_hash" text PRIMARY KEY NOT NULL,
	"link_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "link_challenges" (
	"hash" text PRIMARY KEY NOT NULL,
	"link_id" text NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "links" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"node_id" text NOT NULL,
	"payload" text NOT NULL,
	"kdf" text,
	"auth_key" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone,
	"max_downloads" integer,
	"downloads" integer DEFAULT 0 NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "link_access" ADD CONSTRAINT "link_access_link_id_links_id_fk" FOREIGN KEY ("link_id") REFERENCES "public"."links"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "link_challenges" ADD CONSTRAINT "link_challenges_link_id_links_id_fk" FOREIGN KEY ("link_id") REFERENCES "public"."links"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "links" ADD CONSTRAINT "links_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "links" ADD CONSTRAINT "links_node_fk" FOREIGN KEY ("account_id","node_id") REFERENCES "public"."nodes"("account_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "link_access_link_idx" ON "link_access" USING btree ("link_id");--> statement-breakpoint
CREATE INDEX "link_access_expires_idx" ON "link_access" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "link_challenges_link_idx" ON "link_challenges" USING btree ("link_id","expires_at");--> statement-breakpoint
CREATE INDEX "links_account_idx" ON "links" USING btree ("account_id","created_at");