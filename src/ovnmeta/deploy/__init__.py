"""The deployment kit: `ovnmeta config render` (parameters -> ini files per role).

`params` validates a small deployment description (pure), `render` turns it into ini text
(pure), `cli` reads the parameters file, checks referenced files and writes the result.
Units and container files live in `deploy/` at the top of the repository.
"""
