CREATE TABLE "accounts" (
	"id" text PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"kdf" text NOT NULL,
	"login_verifier" text NOT NULL,
	"recovery_verifier" text NOT NULL,
	"account_public_key" text NOT NULL,
	"passphrase_slot" text NOT NULL,
	"recovery_slot" text NOT NULL,
	"root_node_id" text NOT NULL,
	"used_bytes" bigint DEFAULT 0 NOT NULL,
	"cursor" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "accounts_email_unique" UNIQUE("email")
);
--> statement-breakpoint
CREATE TABLE "changes" (
	"account_id" text NOT NULL,
	"cursor" bigint NOT NULL,
	"node_id" text NOT NULL,
	"op" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "changes_account_id_cursor_pk" PRIMARY KEY("account_id","cursor")
);
--> statement-breakpoint
CREATE TABLE "chunks" (
	"account_id" text NOT NULL,
	"id" text NOT NULL,
	"size" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"touched_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "chunks_account_id_id_pk" PRIMARY KEY("account_id","id")
);
--> statement-breakpoint
CREATE TABLE "devices" (
	"account_id" text NOT NULL,
	"id" text NOT NULL,
	"public_key" text NOT NULL,
	"name" text NOT NULL,
	"slot" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone,
	CONSTRAINT "devices_account_id_id_pk" PRIMARY KEY("account_id","id")
);
--> statement-breakpoint
CREATE TABLE "nodes" (
	"account_id" text NOT NULL,
	"id" text NOT NULL,
	"parent_id" text,
	"kind" text NOT NULL,
	"name_hash" text,
	"wrapped_key" text NOT NULL,
	"metadata" text NOT NULL,
	"version" integer DEFAULT 0 NOT NULL,
	"size" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"trashed_at" timestamp with time zone,
	CONSTRAINT "nodes_account_id_id_pk" PRIMARY KEY("account_id","id")
);
--> statement-breakpoint
CREATE TABLE "rate_limits" (
	"key" text PRIMARY KEY NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"count" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"token_hash" text NOT NULL,
	"client" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "sessions_token_hash_unique" UNIQUE("token_hash")
);
--> statement-breakpoint
CREATE TABLE "upload_chunks" (
	"upload_id" text NOT NULL,
	"account_id" text NOT NULL,
	"chunk_id" text NOT NULL,
	CONSTRAINT "upload_chunks_upload_id_chunk_id_pk" PRIMARY KEY("upload_id","chunk_id")
);
--> statement-breakpoint
CREATE TABLE "uploads" (
	"id" text PRIMARY KEY NOT NULL,
	"account_id" text NOT NULL,
	"node_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "version_chunks" (
	"account_id" text NOT NULL,
	"node_id" text NOT NULL,
	"version" integer NOT NULL,
	"position" integer NOT NULL,
	"chunk_id" text NOT NULL,
	CONSTRAINT "version_chunks_account_id_node_id_version_position_pk" PRIMARY KEY("account_id","node_id","version","position")
);
--> statement-breakpoint
CREATE TABLE "versions" (
	"account_id" text NOT NULL,
	"node_id" text NOT NULL,
	"version" integer NOT NULL,
	"manifest" text NOT NULL,
	"stored_size" bigint NOT NULL,
	"device_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "versions_account_id_node_id_version_pk" PRIMARY KEY("account_id","node_id","version")
);
--> statement-breakpoint
CREATE TABLE "webauthn_credentials" (
	"account_id" text NOT NULL,
	"id" text NOT NULL,
	"public_key" text NOT NULL,
	"counter" bigint DEFAULT 0 NOT NULL,
	"transports" text,
	"prf_slot" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "webauthn_credentials_account_id_id_pk" PRIMARY KEY("account_id","id")
);
--> statement-breakpoint
ALTER TABLE "changes" ADD CONSTRAINT "changes_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chunks" ADD CONSTRAINT "chunks_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "devices" ADD CONSTRAINT "devices_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "nodes" ADD CONSTRAINT "nodes_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "nodes" ADD CONSTRAINT "nodes_parent_fk" FOREIGN KEY ("account_id","parent_id") REFERENCES "public"."nodes"("account_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "upload_chunks" ADD CONSTRAINT "upload_chunks_upload_id_uploads_id_fk" FOREIGN KEY ("upload_id") REFERENCES "public"."uploads"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_chunks" ADD CONSTRAINT "version_chunks_version_fk" FOREIGN KEY ("account_id","node_id","version") REFERENCES "public"."versions"("account_id","node_id","version") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "versions" ADD CONSTRAINT "versions_node_fk" FOREIGN KEY ("account_id","node_id") REFERENCES "public"."nodes"("account_id","id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webauthn_credentials" ADD CONSTRAINT "webauthn_credentials_account_id_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "chunks_touched_idx" ON "chunks" USING btree ("touched_at");--> statement-breakpoint
CREATE INDEX "nodes_children_idx" ON "nodes" USING btree ("account_id","parent_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "nodes_live_name_idx" ON "nodes" USING btree ("account_id","parent_id","name_hash") WHERE "nodes"."trashed_at" is null;--> statement-breakpoint
CREATE INDEX "nodes_trash_idx" ON "nodes" USING btree ("account_id","id") WHERE "nodes"."trashed_at" is not null;--> statement-breakpoint
CREATE INDEX "sessions_account_idx" ON "sessions" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "upload_chunks_chunk_idx" ON "upload_chunks" USING btree ("account_id","chunk_id");--> statement-breakpoint
CREATE INDEX "uploads_account_idx" ON "uploads" USING btree ("account_id");--> statement-breakpoint
CREATE INDEX "uploads_expires_idx" ON "uploads" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "version_chunks_chunk_idx" ON "version_chunks" USING btree ("account_id","chunk_id");