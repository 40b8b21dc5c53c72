-- Stage: classify (mining/classify.py). One layer per non-merge commit, per ../shared/codebook.md.

CREATE TABLE IF NOT EXISTS commit_layers (
    repo            VARCHAR NOT NULL,
    sha             VARCHAR NOT NULL,
    layer           VARCHAR NOT NULL,  -- boilerplate | refactor | feature | architectural
    p_boilerplate   DOUBLE NOT NULL,
    p_refactor      DOUBLE NOT NULL,
    p_feature       DOUBLE NOT NULL,
    p_architectural DOUBLE NOT NULL,
    is_fix          BOOLEAN NOT NULL,
    model_version   VARCHAR NOT NULL,
    decided_by      VARCHAR,           -- rule:<name> or model
    is_oof          BOOLEAN DEFAULT false,  -- a labelled commit: layer from out-of-fold prediction
    layer_diff_only VARCHAR,           -- the diff-only model's layer (no message features), same rules
    PRIMARY KEY (repo, sha)
);

-- databases created before is_oof existed
ALTER TABLE commit_layers ADD COLUMN IF NOT EXISTS is_oof BOOLEAN DEFAULT false;
ALTER TABLE commit_layers ADD COLUMN IF NOT EXISTS layer_diff_only VARCHAR;
