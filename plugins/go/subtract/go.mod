module subtract

go 1.27

require sluice v0.0.0
