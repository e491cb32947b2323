from phistack.cli import main

raise SystemExit(main())
