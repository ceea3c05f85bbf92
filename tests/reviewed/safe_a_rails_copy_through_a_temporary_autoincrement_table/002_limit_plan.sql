-- Description: Rails change_column :members, :plan, :string, limit: 40 (copy through a TEMPORARY table)
CREATE TEMPORARY TABLE "amembers" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "plan" varchar DEFAULT 'basic' NOT NULL);
INSERT INTO "amembers" ("id","plan") SELECT "id","plan" FROM "members";
DROP TABLE "members";
CREATE TABLE "members" ("id" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "plan" varchar(40) DEFAULT 'basic' NOT NULL);
INSERT INTO "members" ("id","plan") SELECT "id","plan" FROM "amembers";
DROP TABLE "amembers";
