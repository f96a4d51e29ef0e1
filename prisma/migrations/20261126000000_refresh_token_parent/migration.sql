-- The grace window answers with the child a rotation issued (looked up by its parent), so
-- finding a token's child must not scan the table.
-- CreateIndex
CREATE INDEX "outstanding_tokens_parent_jti_idx" ON "outstanding_tokens"("parent_jti");
