-- Description: step 2
DROP INDEX u; CREATE UNIQUE INDEX u ON p(code) WHERE status = 'on and archived = 0 and off';
