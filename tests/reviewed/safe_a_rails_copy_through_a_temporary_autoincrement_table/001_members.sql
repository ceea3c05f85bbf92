-- Description: members
CREATE TABLE "members" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "plan" varchar DEFAULT 'basic' NOT NULL);
