from lawangjabo.cli import main

raise SystemExit(main())
