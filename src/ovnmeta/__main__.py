from ovnmeta.cli import main

raise SystemExit(main())
